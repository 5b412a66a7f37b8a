"""Table-driven tests for offline red-flag extraction (nlu/redflags.py)."""

from __future__ import annotations

import dataclasses
import re
import shutil
import time
import unicodedata
from pathlib import Path

import pytest

from handlers.models import RedFlag, RedFlagKind
from nlu.redflags import (
    LISTS_DIR,
    MAX_FLAGS,
    RedFlagLists,
    check_link,
    defang,
    find_red_flags,
    load_lists,
)

LINK = RedFlagKind.LINK
PHONE = RedFlagKind.PHONE
ACCOUNT = RedFlagKind.BANK_ACCOUNT
BANK = RedFlagKind.BANK_NAME
MONEY = RedFlagKind.MONEY
OTP = RedFlagKind.OTP_REQUEST
SWITCH = RedFlagKind.APP_SWITCH

# Every fixed reason code the module may emit; the prefixed ones take an id from the data files.
FIXED_REASONS = {
    "official",
    "shortener",
    "ip_host",
    "risky_tld",
    "punycode",
    "homoglyph",
    "deny_list",
    "obfuscated",
    "fake_gov",
    "unknown",
    "phone_mobile",
    "phone_landline",
    "phone_premium",
    "phone_tollfree",
    "phone_foreign",
    "bank_account",
    "money",
    "otp_request",
    "password_request",
}
PREFIXED_REASONS = ("lookalike:", "bank_name:", "app_switch:")


@pytest.fixture(scope="module")
def lists() -> RedFlagLists:
    return load_lists()


def _flags(text: str, kind: RedFlagKind, lists: RedFlagLists | None = None) -> list[RedFlag]:
    return [f for f in find_red_flags(text, lists) if f.kind is kind]


def _covered(text: str, flag: RedFlag) -> str:
    return text[flag.start : flag.end]


def _check_invariants(text: str, flags: tuple[RedFlag, ...], lists: RedFlagLists) -> None:
    """What must hold for every result: spans in the text, sorted, links defanged, known reasons only."""
    brand_ids = {b.id for b in lists.brands}
    app_ids = {a.id for a in lists.apps} | {"private"}
    assert len(flags) <= MAX_FLAGS
    assert [f.start for f in flags] == sorted(f.start for f in flags)
    for flag in flags:
        assert 0 <= flag.start < flag.end <= len(text)
        assert flag.reasons, flag
        assert len(flag.shown) <= 200
        for reason in flag.reasons:
            assert "safe" not in reason
            if reason.startswith("lookalike:"):
                assert reason.split(":", 1)[1] in brand_ids
            elif reason.startswith("bank_name:"):
                assert reason.split(":", 1)[1] in {b.id for b in lists.banks}
            elif reason.startswith("app_switch:"):
                assert reason.split(":", 1)[1] in app_ids
            else:
                assert reason in FIXED_REASONS, reason
        if flag.kind is LINK:
            assert "http" not in flag.shown.lower()
            assert re.search(r"\w[.\u3002\uff0e]\w", flag.shown) is None, flag.shown
            if "official" in flag.reasons:
                assert set(flag.reasons) <= {"official", "obfuscated", "shortener"}
            if "unknown" in flag.reasons:
                assert flag.reasons == ("unknown",)


# ------------------------------------------------------------------------------------------------ links

# (message, the text the LINK flag must cover, reasons that must all be present)
LINK_CASES: list[tuple[str, str, set[str]]] = [
    (
        "TK cua ban bi khoa, vao https://vietcombank-xacminh.com/login de xac minh",
        "https://vietcombank-xacminh.com/login",
        {"lookalike:vietcombank"},
    ),
    ("Truy cập vietcombank-xacminh.com ngay nhé", "vietcombank-xacminh.com", {"lookalike:vietcombank"}),
    ("vao vcb-hotro.xyz nhanh", "vcb-hotro.xyz", {"lookalike:vietcombank", "risky_tld"}),
    ("link nè www.x.vn/abc", "www.x.vn/abc", {"unknown"}),
    ("hxxps://vcb[.]com/abc", "hxxps://vcb[.]com/abc", {"lookalike:vietcombank", "obfuscated"}),
    ("nhấn vcb(.)com nhé", "vcb(.)com", {"lookalike:vietcombank", "obfuscated"}),
    ("vào shopee . vn săn sale", "shopee . vn", {"official", "obfuscated"}),
    ("ghé vietcombank dot com", "vietcombank dot com", {"lookalike:vietcombank", "obfuscated"}),
    ("vao acb-hotro chấm xyz", "acb-hotro chấm xyz", {"lookalike:acb", "risky_tld", "obfuscated"}),
    (
        "h**ps://mbbank-hotro.top/a",
        "h**ps://mbbank-hotro.top/a",
        {"lookalike:mbbank", "risky_tld", "obfuscated"},
    ),
    ("Nhận quà: bit.ly/3abcXYZ", "bit.ly/3abcXYZ", {"shortener"}),
    ("tinyurl.com/qua-tang", "tinyurl.com/qua-tang", {"shortener"}),
    ("link t.co/abc nha", "t.co/abc", {"shortener"}),
    ("cutt.ly/free-kc", "cutt.ly/free-kc", {"shortener"}),
    ("rb.gy/x1", "rb.gy/x1", {"shortener"}),
    ("is.gd/x1", "is.gd/x1", {"shortener"}),
    ("shorturl.at/abc", "shorturl.at/abc", {"shortener"}),
    ("s.id/abc", "s.id/abc", {"shortener"}),
    ("goo.gl/abc", "goo.gl/abc", {"shortener"}),
    ("đăng nhập http://103.45.1.9/login nha", "http://103.45.1.9/login", {"ip_host"}),
    ("103.45.1.9/login", "103.45.1.9/login", {"ip_host"}),
    ("http://1745191177/", "http://1745191177/", {"ip_host"}),
    ("xn--80ak6aa92e.com", "xn--80ak6aa92e.com", {"punycode", "homoglyph", "lookalike:apple"}),
    ("vіеtсоmbаnk.com", "vіеtсоmbаnk.com", {"homoglyph", "lookalike:vietcombank"}),  # Cyrillic і е с о а
    ("gοogle.com/login", "gοogle.com/login", {"homoglyph", "lookalike:google"}),  # Greek omicron
    ("vietc0mbank.com.vn", "vietc0mbank.com.vn", {"homoglyph", "lookalike:vietcombank"}),
    ("vietcornbank.com", "vietcornbank.com", {"homoglyph", "lookalike:vietcombank"}),
    ("faceb00k.com/secure", "faceb00k.com/secure", {"homoglyph", "lookalike:facebook"}),
    ("vietcombánk.com.vn", "vietcombánk.com.vn", {"homoglyph", "lookalike:vietcombank"}),
    ("shoppe.vn/sale", "shoppe.vn/sale", {"lookalike:shopee"}),
    ("momo-khuyenmai.com", "momo-khuyenmai.com", {"lookalike:momo"}),
    ("zalo-xacminh.com", "zalo-xacminh.com", {"lookalike:zalo"}),
    ("tiktok-nhanqua.shop", "tiktok-nhanqua.shop", {"lookalike:tiktok", "risky_tld"}),
    ("garena-nhanqua.com", "garena-nhanqua.com", {"lookalike:garena"}),
    ("freefire-giftcode.xyz", "freefire-giftcode.xyz", {"lookalike:freefire", "risky_tld"}),
    ("lienquan-quatang.top", "lienquan-quatang.top", {"lookalike:lienquan", "risky_tld"}),
    ("roblox-free.com", "roblox-free.com", {"lookalike:roblox"}),
    ("steamcommunlty.com", "steamcommunlty.com", {"lookalike:steam"}),
    ("vneid-capnhat.com", "vneid-capnhat.com", {"lookalike:vneid", "fake_gov"}),
    ("dichvucong-gov.com", "dichvucong-gov.com", {"lookalike:dichvucong", "fake_gov"}),
    ("congan-tracuu.click", "congan-tracuu.click", {"fake_gov", "risky_tld"}),
    ("bocongan.gov.vn.tracuu.com", "bocongan.gov.vn.tracuu.com", {"lookalike:bocongan", "fake_gov"}),
    ("csgt-phatnguoi.online", "csgt-phatnguoi.online", {"fake_gov", "risky_tld"}),
    ("vietcombank.com.vn.xacminh.xyz", "vietcombank.com.vn.xacminh.xyz", {"lookalike:vietcombank"}),
    (
        "https://vietcombank.com.vn@evil.xyz/a",
        "https://vietcombank.com.vn@evil.xyz/a",
        {"lookalike:vietcombank"},
    ),
    ("vietcom\u200bbank.com.vn", "vietcom\u200bbank.com.vn", {"official", "obfuscated"}),
    ("https://vietcombank.com.vn", "https://vietcombank.com.vn", {"official"}),
    ("vào https://dichvucong.gov.vn nhé", "https://dichvucong.gov.vn", {"official"}),
    ("abc.gov.vn", "abc.gov.vn", {"official"}),
    ("chinhphu.vn", "chinhphu.vn", {"official"}),
    ("zalo.me/0912345678", "zalo.me/0912345678", {"official"}),
    ("ff.garena.vn", "ff.garena.vn", {"official"}),
    ("lienquan.garena.vn", "lienquan.garena.vn", {"official"}),
    ("vinschool.edu.vn", "vinschool.edu.vn", {"official"}),
    ("example.com", "example.com", {"unknown"}),
    ("Xem tại: https://vietcombank.com.vn. Cảm ơn!", "https://vietcombank.com.vn", {"official"}),
    ("(xem link bit.ly/abc)", "bit.ly/abc", {"shortener"}),
    ("VAO NGAY WWW.VCB-XACMINH.COM!!!", "WWW.VCB-XACMINH.COM", {"lookalike:vietcombank"}),
]


@pytest.mark.parametrize(("text", "covered", "reasons"), LINK_CASES)
def test_links(text: str, covered: str, reasons: set[str], lists: RedFlagLists) -> None:
    flags = find_red_flags(text, lists)
    _check_invariants(text, flags, lists)
    links = [f for f in flags if f.kind is LINK]
    assert [_covered(text, f) for f in links] == [covered]
    assert reasons <= set(links[0].reasons), links[0].reasons


# Ordinary teen messages: numbers, times, scores, classes, abbreviations, emoticons.
NO_LINK_CASES = [
    "5h chiều đi học thêm nha",
    "được 9.5 điểm toán nè",
    "lớp 8.2 đi dã ngoại",
    "sách, vở, bút v.v mang đủ nha",
    "buồn quá T.T",
    "-.- ^.^ >.< o.O ._. =)) :))",
    "ok.me too",
    "thôi.vậy đi",
    "A.I hay thật",
    "TP.HCM mưa to",
    "Q.1, P.Bến Nghé",
    "Th.S Nguyễn Văn A",
    "giá 1.500.000đ",
    "ngày 20.11.2023",
    "file bai_tap.docx với anh.png",
    "email mình là an.nguyen@gmail.com",
    "phiên bản 1.2.3.4 mới ra",
    "." * 50,
]


@pytest.mark.parametrize("text", NO_LINK_CASES)
def test_no_link(text: str, lists: RedFlagLists) -> None:
    flags = find_red_flags(text, lists)
    _check_invariants(text, flags, lists)
    assert [f for f in flags if f.kind in (LINK, PHONE)] == []


# -------------------------------------------------------------------------------------------- phones

PHONE_CASES: list[tuple[str, str, str]] = [
    ("gọi 0912345678 nhé", "0912345678", "phone_mobile"),
    ("gửi mã OTP cho mình qua số 0912345678", "0912345678", "phone_mobile"),
    ("sdt: 0912 345 678", "0912 345 678", "phone_mobile"),
    ("liên hệ 091.234.5678", "091.234.5678", "phone_mobile"),
    ("call +84 912 345 678", "+84 912 345 678", "phone_mobile"),
    ("zalo 84912345678", "84912345678", "phone_mobile"),
    ("(+84) 0987-654-321", "(+84) 0987-654-321", "phone_mobile"),
    ("số bàn 024 3825 1234", "024 3825 1234", "phone_landline"),
    ("hotline 1900 1234", "1900 1234", "phone_premium"),
    ("tổng đài 1900545413", "1900545413", "phone_premium"),
    ("miễn phí 1800 1234", "1800 1234", "phone_tollfree"),
    ("gọi +855 12 345 678 nhé", "+855 12 345 678", "phone_foreign"),
    ("+1 202 555 0143", "+1 202 555 0143", "phone_foreign"),
]


@pytest.mark.parametrize(("text", "covered", "reason"), PHONE_CASES)
def test_phones(text: str, covered: str, reason: str, lists: RedFlagLists) -> None:
    flags = find_red_flags(text, lists)
    _check_invariants(text, flags, lists)
    phones = [f for f in flags if f.kind is PHONE]
    assert [(_covered(text, f), f.reasons) for f in phones] == [(covered, (reason,))]


NO_PHONE_CASES = [
    "mã số 0912345678901234 không phải sđt",  # a longer run of digits
    "mình được 10 điểm, hạng 2/45",
    "sinh năm 2009, lớp 10A1",
    "ngày 09.05.2024 thi",
    "Mã OTP của bạn: 0912345678",  # a code after "OTP", not a phone
    "tổng đài 111 luôn nghe máy",
]


@pytest.mark.parametrize("text", NO_PHONE_CASES)
def test_no_phone(text: str, lists: RedFlagLists) -> None:
    flags = find_red_flags(text, lists)
    _check_invariants(text, flags, lists)
    assert _flags(text, PHONE, lists) == []


# ------------------------------------------------------------------------------------ bank details

# (message, [(kind, covered text, reason)] expected among the flags of these kinds)
BANK_CASES: list[tuple[str, list[tuple[RedFlagKind, str, str]]]] = [
    (
        "ck 500k vào stk 0071000123456 Vietcombank",
        [(ACCOUNT, "0071000123456", "bank_account"), (BANK, "Vietcombank", "bank_name:vietcombank")],
    ),
    (
        "STK: 19036223348016 Techcombank",
        [(ACCOUNT, "19036223348016", "bank_account"), (BANK, "Techcombank", "bank_name:techcombank")],
    ),
    ("số tài khoản: 1234 5678 9012", [(ACCOUNT, "1234 5678 9012", "bank_account")]),
    (
        "so tk 0123456789 MB",
        [(ACCOUNT, "0123456789", "bank_account"), (BANK, "MB", "bank_name:mbbank")],
    ),
    (
        "ck vào tk mình 0011223344556 acb",
        [(ACCOUNT, "0011223344556", "bank_account"), (BANK, "acb", "bank_name:acb")],
    ),
    (
        "Vietinbank 108870123456",
        [(BANK, "Vietinbank", "bank_name:vietinbank"), (ACCOUNT, "108870123456", "bank_account")],
    ),
    (
        "0071000123456 - VCB",
        [(ACCOUNT, "0071000123456", "bank_account"), (BANK, "VCB", "bank_name:vietcombank")],
    ),
    ("chuyển qua tcb cho mình", [(BANK, "tcb", "bank_name:techcombank")]),
    ("nạp qua ví MoMo nha", [(BANK, "ví MoMo", "bank_name:momo")]),
    ("ngân hàng BIDV chi nhánh Hà Nội", [(BANK, "BIDV", "bank_name:bidv")]),
    ("thanh toán bằng ZaloPay", [(BANK, "ZaloPay", "bank_name:zalopay")]),
    ("account number 123456789012", [(ACCOUNT, "123456789012", "bank_account")]),
]


@pytest.mark.parametrize(("text", "expected"), BANK_CASES)
def test_bank_details(text: str, expected: list[tuple[RedFlagKind, str, str]], lists: RedFlagLists) -> None:
    flags = find_red_flags(text, lists)
    _check_invariants(text, flags, lists)
    got = [(f.kind, _covered(text, f), f.reasons[0]) for f in flags if f.kind in (ACCOUNT, BANK)]
    assert got == expected


NO_BANK_CASES = [
    "chuyển khoản 15.000.000 đ nhé",  # an amount, not an account
    "tk ff của mình 123456789",  # a game id
    "gói 4g 100 mb/ngày",  # megabytes, not MB Bank
    "điện thoại 64 gb mb nào cũng được",
    "mb ơi mai đi học không",
]


@pytest.mark.parametrize("text", NO_BANK_CASES)
def test_no_bank_details(text: str, lists: RedFlagLists) -> None:
    flags = find_red_flags(text, lists)
    _check_invariants(text, flags, lists)
    assert [f for f in flags if f.kind in (ACCOUNT, BANK)] == []


# --------------------------------------------------------------------------------------------- money

MONEY_CASES: list[tuple[str, list[str]]] = [
    ("nạp 500k nhận 2tr", ["500k", "2tr"]),
    ("thưởng 2 triệu", ["2 triệu"]),
    ("phí 1.500.000đ", ["1.500.000đ"]),
    ("chỉ 1,5tr thôi", ["1,5tr"]),
    ("200 nghìn hoặc 300 ngàn", ["200 nghìn", "300 ngàn"]),
    ("50$ hay $50 hay 100 usd", ["50$", "$50", "100 usd"]),
    ("100.000 vnd", ["100.000 vnd"]),
    ("5 củ là có acc", ["5 củ"]),
    ("1tr5 một tháng", ["1tr5"]),
    ("100 đô, 20 usdt, 10 tỷ", ["100 đô", "20 usdt", "10 tỷ"]),
    ("chuyển khoản 15.000.000 đ nhé", ["15.000.000 đ"]),
]


@pytest.mark.parametrize(("text", "covered"), MONEY_CASES)
def test_money(text: str, covered: list[str], lists: RedFlagLists) -> None:
    flags = find_red_flags(text, lists)
    _check_invariants(text, flags, lists)
    money = [f for f in flags if f.kind is MONEY]
    assert [_covered(text, f) for f in money] == covered
    assert all(f.reasons == ("money",) for f in money)


NO_MONEY_CASES = [
    "được 9đ môn toán, 10đ môn lý",  # points (điểm)
    "team 2k9 đâu rồi, mình 2k8",  # birth years
    "chờ mình 1 tí, đợi 1 tý nhé",  # "a little"
    "9.5 điểm, lớp 8.2, 5h chiều",
    "cao 1m60 nặng 45kg",
]


@pytest.mark.parametrize("text", NO_MONEY_CASES)
def test_no_money(text: str, lists: RedFlagLists) -> None:
    flags = find_red_flags(text, lists)
    _check_invariants(text, flags, lists)
    assert _flags(text, MONEY, lists) == []


# ------------------------------------------------------------------------------- OTP and passwords

OTP_CASES: list[tuple[str, str, str]] = [
    ("gửi mã OTP cho mình", "gửi mã OTP", "otp_request"),
    ("gui ma otp cho minh nhe", "gui ma otp", "otp_request"),
    ("đọc mã xác nhận đi em", "đọc mã xác nhận", "otp_request"),
    ("ma xac thuc la gi", "ma xac thuc", "otp_request"),
    ("gửi code 6 số vừa nhận", "gửi code 6 số", "otp_request"),
    ("mã gồm 6 chữ số", "mã gồm 6 chữ số", "otp_request"),
    ("đọc cho mình cái mã vừa gửi về điện thoại", "đọc cho mình cái mã vừa gửi", "otp_request"),
    ("nhập mã pin vào đây", "nhập mã pin", "otp_request"),
    ("cho mình xin mật khẩu", "cho mình xin mật khẩu", "password_request"),
    ("mật khẩu fb của bạn là gì", "mật khẩu", "password_request"),
    ("cho mình xin mk fb nha", "xin mk fb", "password_request"),
    ("gửi pass acc cho anh check", "gửi pass acc", "password_request"),
    ("pass zalo của em là j", "pass zalo", "password_request"),
]


@pytest.mark.parametrize(("text", "covered", "reason"), OTP_CASES)
def test_otp_and_password_requests(text: str, covered: str, reason: str, lists: RedFlagLists) -> None:
    flags = find_red_flags(text, lists)
    _check_invariants(text, flags, lists)
    requests = [f for f in flags if f.kind is OTP]
    assert [(_covered(text, f), f.reasons) for f in requests] == [(covered, (reason,))]


NO_OTP_CASES = [
    "mk là học sinh lớp 8",  # mk = mình
    "cho mk xin cái ảnh nha",
    "gửi mk cái link bài tập",
    "pass lại áo đồng phục size M",  # pass = sell on
    "pass acc ff giá rẻ",
    "cho mình xin mật khẩu wifi",
    "quên mật khẩu facebook rồi huhu",
    "nhớ đổi mật khẩu thường xuyên nha",
    "gửi mã giảm giá shopee cho mình với",
    "mình gửi mà",
    "quét mã QR để nhận quà",
]


@pytest.mark.parametrize("text", NO_OTP_CASES)
def test_no_otp_request(text: str, lists: RedFlagLists) -> None:
    flags = find_red_flags(text, lists)
    _check_invariants(text, flags, lists)
    assert _flags(text, OTP, lists) == []


# ------------------------------------------------------------------------------------- app switches

SWITCH_CASES: list[tuple[str, list[tuple[str, str]]]] = [
    ("qua Zalo nói chuyện nha", [("qua Zalo", "app_switch:zalo")]),
    ("add zalo mình đi", [("add zalo", "app_switch:zalo")]),
    ("kết bạn zalo mình nha", [("kết bạn zalo", "app_switch:zalo")]),
    ("ib telegram để nhận việc", [("ib telegram", "app_switch:telegram")]),
    ("nhắn qua tele cho nhanh", [("nhắn qua tele", "app_switch:telegram")]),
    ("vào zoom họp nhóm kín", [("vào zoom", "app_switch:zoom")]),
    ("tải Signal về", [("tải Signal", "app_switch:signal")]),
    ("liên hệ WhatsApp", [("liên hệ WhatsApp", "app_switch:whatsapp")]),
    ("qua Messenger nói tiếp", [("qua Messenger", "app_switch:messenger")]),
    ("vào discord server mình", [("vào discord", "app_switch:discord")]),
    ("add line mình nhé", [("add line", "app_switch:line")]),
    ("nhắn qua Viber", [("nhắn qua Viber", "app_switch:viber")]),
    ("Telegram: @abc_support", [("Telegram", "app_switch:telegram")]),
    ("ib riêng nhé", [("ib riêng", "app_switch:private")]),
    ("nhắn tin riêng với chị", [("nhắn tin riêng", "app_switch:private")]),
    ("inbox ad để nhận quà", [("inbox ad", "app_switch:private")]),
]


@pytest.mark.parametrize(("text", "expected"), SWITCH_CASES)
def test_app_switches(text: str, expected: list[tuple[str, str]], lists: RedFlagLists) -> None:
    flags = find_red_flags(text, lists)
    _check_invariants(text, flags, lists)
    assert [(_covered(text, f), f.reasons[0]) for f in flags if f.kind is SWITCH] == expected


NO_SWITCH_CASES = [
    "mình thích xem tiktok với youtube",
    "zalo hôm nay lag quá",
    "đứng xếp line chờ mua trà sữa",
    "zoom ảnh to lên xem",
]


@pytest.mark.parametrize("text", NO_SWITCH_CASES)
def test_no_app_switch(text: str, lists: RedFlagLists) -> None:
    flags = find_red_flags(text, lists)
    _check_invariants(text, flags, lists)
    assert _flags(text, SWITCH, lists) == []


# ------------------------------------------------------------------------------ whole messages, spans


def test_full_scam_message(lists: RedFlagLists) -> None:
    text = (
        "Chúc mừng bạn trúng thưởng 5tr từ Shopee! Truy cập shopee-nhanqua.xyz/qua để nhận, "
        "gửi mã OTP cho CSKH, ck phí 200k vào stk 0071000123456 Vietcombank, "
        "add zalo 0912345678 hoặc ib riêng."
    )
    flags = find_red_flags(text, lists)
    _check_invariants(text, flags, lists)
    kinds = {f.kind for f in flags}
    assert kinds == {LINK, PHONE, ACCOUNT, BANK, MONEY, OTP, SWITCH}
    link = next(f for f in flags if f.kind is LINK)
    assert _covered(text, link) == "shopee-nhanqua.xyz/qua"
    assert link.shown == "shopee-nhanqua[.]xyz/qua"
    assert {"lookalike:shopee", "risky_tld"} <= set(link.reasons)


def test_nothing_in_an_ordinary_chat(lists: RedFlagLists) -> None:
    text = "Mai 7h30 tập trung cổng trường, lớp 8.2 thi 45 phút, ai được 9.5 điểm khao trà sữa nha :))"
    assert find_red_flags(text, lists) == ()
    assert find_red_flags("", lists) == ()


def test_decomposed_text_keeps_original_spans(lists: RedFlagLists) -> None:
    text = unicodedata.normalize("NFD", "Chuyển khoản 2 triệu vào vietcombank-xacminh.com ngay")
    flags = find_red_flags(text, lists)
    _check_invariants(text, flags, lists)
    assert [(f.kind, _covered(text, f)) for f in flags] == [
        (MONEY, unicodedata.normalize("NFD", "2 triệu")),
        (LINK, "vietcombank-xacminh.com"),
    ]


def test_flags_are_capped(lists: RedFlagLists) -> None:
    text = " ".join(f"site{i}-xacminh.xyz 09{i:08d}" for i in range(100))
    flags = find_red_flags(text, lists)
    _check_invariants(text, flags, lists)
    assert len(flags) == MAX_FLAGS
    assert flags[0].start == 0


def test_long_link_is_shown_trimmed(lists: RedFlagLists) -> None:
    text = "https://vietcombank-xacminh.com/" + "a" * 300
    (flag,) = find_red_flags(text, lists)
    assert (flag.start, flag.end) == (0, len(text))
    assert len(flag.shown) <= 120 and flag.shown.endswith("…")
    assert flag.shown.startswith("hxxps://vietcombank-xacminh[.]com/")


def test_default_lists_are_used(lists: RedFlagLists) -> None:
    assert find_red_flags("vcb-xacminh.com") == find_red_flags("vcb-xacminh.com", lists)


# -------------------------------------------------------------------------------------- defang, check

DEFANG_CASES = [
    ("https://vcb-xacminh.com/a", "hxxps://vcb-xacminh[.]com/a"),
    ("abc.xyz", "abc[.]xyz"),
    ("HTTP://WWW.ABC.COM", "HXXP://WWW[.]ABC[.]COM"),
    ("ftp://10.0.0.1/x", "fxp://10[.]0[.]0[.]1/x"),
    ("hxxps://vcb[.]com", "hxxps://vcb[.]com"),
    ("vietcom\u200bbank.com", "vietcombank[.]com"),
    ("hello. world", "hello. world"),
]


@pytest.mark.parametrize(("raw", "expected"), DEFANG_CASES)
def test_defang(raw: str, expected: str) -> None:
    assert defang(raw) == expected
    assert defang(defang(raw)) == defang(raw)


CHECK_LINK_CASES: list[tuple[str, tuple[str, ...]]] = [
    ("https://vietcombank.com.vn/ebank", ("official",)),
    ("shopee.vn", ("official",)),
    ("https://abc.gov.vn/x", ("official",)),
    ("https://vietcombank-xacminh.com/a", ("lookalike:vietcombank",)),
    ("bit.ly/abc", ("shortener",)),
    ("http://192.168.1.1", ("ip_host",)),
    ("abc.me", ("unknown",)),
    ("example.org", ("unknown",)),
    ("vcb[.]com", ("lookalike:vietcombank", "obfuscated")),
    ("", ("unknown",)),
]


@pytest.mark.parametrize(("url", "expected"), CHECK_LINK_CASES)
def test_check_link(url: str, expected: tuple[str, ...], lists: RedFlagLists) -> None:
    assert check_link(url, lists) == expected


# --------------------------------------------------------------------------------------------- lists


def test_lists_cover_the_brands_we_promise(lists: RedFlagLists) -> None:
    ids = {b.id for b in lists.brands}
    for brand in (
        "vietcombank vietinbank bidv agribank techcombank mbbank acb vpbank tpbank sacombank vib shb hdbank "
        "ocb seabank momo zalopay viettelmoney vnpay shopeepay dichvucong bocongan vneid viettel vinaphone "
        "mobifone shopee lazada tiki tiktok facebook zalo garena roblox freefire lienquan pubg steam discord "
        "google school"
    ).split():
        assert brand in ids
    assert {
        "bit.ly",
        "tinyurl.com",
        "t.co",
        "cutt.ly",
        "rb.gy",
        "is.gd",
        "shorturl.at",
        "s.id",
        "goo.gl",
    } <= (lists.shorteners)
    assert {"xyz", "top", "click", "icu", "buzz", "shop", "online", "site", "live", "vip", "cc", "tk"} <= (
        lists.risky_tlds
    )
    assert "gov.vn" in lists.allow and "vietcombank.com.vn" in lists.official
    assert all(b.kind in {"bank", "wallet"} for b in lists.banks)


def test_deny_list_is_data(lists: RedFlagLists) -> None:
    denied = dataclasses.replace(lists, deny=frozenset({"evil-example.com"}))
    (flag,) = _flags("vào evil-example.com/abc", LINK, denied)
    assert "deny_list" in flag.reasons
    assert "deny_list" in check_link("https://sub.evil-example.com", denied)
    assert "deny_list" not in check_link("https://evil-example.com", lists)


def test_load_lists_from_a_copy(tmp_path: Path) -> None:
    folder = tmp_path / "lists"
    shutil.copytree(LISTS_DIR, folder)
    (folder / "deny.yml").write_text("domains:\n  - Scam-Example.com\n", encoding="utf-8")
    lists = load_lists(folder)
    assert "scam-example.com" in lists.deny
    assert check_link("scam-example.com", lists) == ("deny_list",)


@pytest.mark.parametrize(
    ("file", "content", "message"),
    [
        ("deny.yml", "domains: nope\n", "deny.yml: key 'domains' must be a list"),
        ("deny.yml", "domains:\n  - 'not a domain'\n", "deny.yml: key 'domains'"),
        ("allow.yml", "other: []\n", "allow.yml: missing key 'domains'"),
        (
            "tlds.yml",
            "known: [com]\nrisky: [xyz]\nambiguous: []\nspaced: [com]\n",
            "tlds.yml: missing key 'suffixes'",
        ),
        ("brands.yml", "brands:\n  x1:\n    kind: nope\n", "brands.yml: key 'brands.x1.kind'"),
        ("shorteners.yml", "domains: [bit.ly\n", "shorteners.yml: not valid YAML"),
        ("homoglyphs.yml", "chars: {}\n", "homoglyphs.yml: key 'chars'"),
    ],
)
def test_bad_lists_name_file_and_key(tmp_path: Path, file: str, content: str, message: str) -> None:
    folder = tmp_path / "lists"
    shutil.copytree(LISTS_DIR, folder)
    (folder / file).write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(message)):
        load_lists(folder)


def test_data_files_have_a_header() -> None:
    for path in sorted(LISTS_DIR.glob("*.yml")):
        assert path.read_text(encoding="utf-8").startswith("#"), path.name


# ---------------------------------------------------------------------------------------------- time

LIMIT_S = 0.5  # a sanity limit, not a benchmark

TIME_CASES = {
    "5,000-char URL": "https://" + "a" * 5000 + ".com/x",
    "5,000-char URL path": "https://vcb-xacminh.com/" + "a/b." * 1250,
    "100 kB chat": ("Chào bạn, mình là Lan lớp 8.2, 5h chiều được 9.5 điểm :)) mk đi học nha. " * 1400)[
        :100_000
    ],
    "100 kB scam": (
        "vào vcb-xacminh.com gửi mã OTP, ck 500k stk 0071000123456 vcb, add zalo 0912345678. " * 1200
    )[:100_000],
    "10,000 dots": "." * 10_000,
    "a.a.a… 100 kB": "a." * 50_000,
    "a . a . … 100 kB": "a . " * 25_000,
    "digits 100 kB": "1 " * 50_000,
    "[.] 100 kB": "a[.]" * 25_000,
    "https:// repeated": "https://" * 12_000,
    "one 100 kB word": "a" * 100_000,
    "hyphens": "a-" * 50_000 + ".com",
}


@pytest.mark.parametrize("name", list(TIME_CASES))
def test_bounded_time(name: str, lists: RedFlagLists) -> None:
    text = TIME_CASES[name]
    start = time.perf_counter()
    flags = find_red_flags(text, lists)
    elapsed = time.perf_counter() - start
    _check_invariants(text, flags, lists)
    assert elapsed < LIMIT_S, f"{name}: {elapsed:.3f} s"


def test_check_link_bounded_time(lists: RedFlagLists) -> None:
    start = time.perf_counter()
    check_link("https://" + "ab." * 3000 + "com/" + "x" * 5000, lists)
    assert time.perf_counter() - start < LIMIT_S
