"""Offline red-flag extraction: links, phones, bank details, money, OTP/password and app-switch requests.

Everything is matched on a folded copy of the message (lower case, no diacritics, no zero-width or
combining characters) whose positions map back to the original, so every span points into the text the
student sent. The lists (brands, allow/deny lists, shorteners, TLDs, apps, homoglyphs, request phrases)
are YAML data in nlu/redflags/. Regular expressions use possessive or bounded repeats only, the number
of candidates and flags is capped, and only the first characters of a host are analysed, so a long or
hostile message takes bounded time. A link is never called safe: at best its reason is "official".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import islice
from pathlib import Path
from typing import Any

import yaml

from handlers.models import RedFlag, RedFlagKind

LISTS_DIR = Path(__file__).resolve().parent / "redflags"

MAX_FLAGS = 20  # flags returned per message (the first ones by position)
MAX_TEXT = 200_000  # characters of a message analysed
MAX_CANDIDATES = 32  # candidates kept per detector (only the first MAX_FLAGS by position are returned)
MAX_ATTEMPTS = 256  # regex matches looked at per detector
MAX_LABELS = 32  # labels of one host analysed
MAX_LABEL = 63  # characters of one host label analysed
MAX_URL = 2048  # characters of a URL analysed by check_link
MAX_SHOWN = 120  # characters of `shown`

BANK_KINDS = frozenset({"bank", "wallet"})
BRAND_KINDS = frozenset({"bank", "wallet", "gov", "telco", "shop", "game", "social", "tech", "school"})

# ---------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Brand:
    """A brand scammers imitate: names as written (folded), short ambiguous names, official domains."""

    id: str
    kind: str
    names: tuple[str, ...]
    weak_names: tuple[str, ...]
    domains: tuple[str, ...]


@dataclass(frozen=True)
class App:
    """A chat app: names that count after a switch verb, and names that are a red flag on their own."""

    id: str
    names: tuple[str, ...]
    strong_names: tuple[str, ...]


@dataclass(frozen=True)
class RequestPhrases:
    """Phrases for OTP and password requests (folded, lower case)."""

    otp_phrases: tuple[str, ...]
    password_phrases: tuple[str, ...]
    weak_password_words: tuple[str, ...]
    request_verbs: tuple[str, ...]
    targets: tuple[str, ...]
    excluded_targets: tuple[str, ...]
    code_exclusions: tuple[str, ...]


@dataclass(frozen=True)
class RedFlagLists:
    """Everything loaded from nlu/redflags/*.yml, with the matchers compiled from it."""

    brands: tuple[Brand, ...]
    allow: frozenset[str]
    deny: frozenset[str]
    shorteners: frozenset[str]
    tlds: frozenset[str]
    risky_tlds: frozenset[str]
    ambiguous_tlds: frozenset[str]
    spaced_tlds: frozenset[str]
    suffixes: frozenset[str]
    bait_words: frozenset[str]
    gov_words: tuple[str, ...]
    apps: tuple[App, ...]
    switch_verbs: tuple[str, ...]
    private_verbs: tuple[str, ...]
    private_words: tuple[str, ...]
    private_targets: tuple[str, ...]
    homoglyphs: Mapping[str, str] = field(hash=False)
    digit_letters: Mapping[str, tuple[str, ...]] = field(hash=False)
    sequences: Mapping[str, str] = field(hash=False)
    requests: RequestPhrases
    _matchers: _Matchers = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_matchers", _Matchers(self))

    @property
    def banks(self) -> tuple[Brand, ...]:
        """The brands that are banks or e-wallets (their names are reported as BANK_NAME)."""
        return tuple(b for b in self.brands if b.kind in BANK_KINDS)

    @property
    def official(self) -> frozenset[str]:
        """Allow-listed domains plus every brand's official domains."""
        return self._matchers.official


_DOMAIN_RE = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_TLD_RE = re.compile(r"[a-z0-9-]{2,63}")
_ID_RE = re.compile(r"[a-z0-9_]{2,40}")


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the file ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of keys at the top level")
    return data


def _strings(data: Mapping[str, Any], key: str, path: Path, *, required: bool = True) -> tuple[str, ...]:
    """A list of non-empty strings under `key`, folded (lower case, no diacritics, single spaces)."""
    value = data.get(key)
    if value is None:
        if required and key not in data:
            raise ValueError(f"{path}: missing key '{key}'")
        return ()
    if not isinstance(value, list):
        raise ValueError(f"{path}: key '{key}' must be a list")
    out: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{path}: key '{key}': every entry must be a non-empty string, got {item!r}")
        out.append(" ".join(_fold(item).text.split()))
    return tuple(out)


def _domains(data: Mapping[str, Any], key: str, path: Path) -> frozenset[str]:
    out = set()
    for item in _strings(data, key, path):
        domain = item.strip(".")
        if not _DOMAIN_RE.fullmatch(domain):
            raise ValueError(f"{path}: key '{key}': {item!r} is not a domain (write e.g. example.com.vn)")
        out.add(domain)
    return frozenset(out)


def _tlds(data: Mapping[str, Any], key: str, path: Path) -> frozenset[str]:
    out = set()
    for item in _strings(data, key, path):
        tld = item.lstrip(".")
        if not _TLD_RE.fullmatch(tld):
            raise ValueError(f"{path}: key '{key}': {item!r} is not a top-level domain")
        out.add(tld)
    return frozenset(out)


def _mapping(data: Mapping[str, Any], key: str, path: Path) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict) or not value:
        raise ValueError(f"{path}: key '{key}' must be a non-empty mapping")
    return value


def _load_brands(path: Path) -> tuple[tuple[Brand, ...], frozenset[str], tuple[str, ...]]:
    data = _read(path)
    brands: list[Brand] = []
    for bid, entry in _mapping(data, "brands", path).items():
        where = f"brands.{bid}"
        if not isinstance(bid, str) or not _ID_RE.fullmatch(bid):
            raise ValueError(f"{path}: key 'brands': id {bid!r} must be lower case ASCII letters/digits")
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: key '{where}' must be a mapping with kind, names, domains")
        kind = entry.get("kind")
        if kind not in BRAND_KINDS:
            raise ValueError(f"{path}: key '{where}.kind' must be one of {sorted(BRAND_KINDS)}, got {kind!r}")
        names = _strings(entry, "names", path.with_name(f"{path.name} ({where})"))
        if not names:
            raise ValueError(f"{path}: key '{where}.names' must list at least one name")
        weak = _strings(entry, "weak_names", path.with_name(f"{path.name} ({where})"), required=False)
        domains = _domains(entry, "domains", path.with_name(f"{path.name} ({where})"))
        brands.append(Brand(bid, str(kind), names, weak, tuple(sorted(domains))))
    bait = frozenset(w.replace(" ", "") for w in _strings(data, "bait_words", path))
    gov = tuple(w.replace(" ", "") for w in _strings(data, "gov_words", path))
    return tuple(brands), bait, gov


def _load_apps(path: Path) -> tuple[tuple[App, ...], dict[str, tuple[str, ...]]]:
    data = _read(path)
    apps: list[App] = []
    for aid, entry in _mapping(data, "apps", path).items():
        where = path.with_name(f"{path.name} (apps.{aid})")
        if not isinstance(aid, str) or not _ID_RE.fullmatch(aid):
            raise ValueError(f"{path}: key 'apps': id {aid!r} must be lower case ASCII letters/digits")
        if not isinstance(entry, dict):
            raise ValueError(f"{path}: key 'apps.{aid}' must be a mapping with names")
        names = _strings(entry, "names", where)
        strong = _strings(entry, "strong_names", where, required=False)
        apps.append(App(aid, tuple(dict.fromkeys(names + strong)), strong))
    keys = ("switch_verbs", "private_verbs", "private_words", "private_targets")
    return tuple(apps), {k: _strings(data, k, path) for k in keys}


def _load_homoglyphs(
    path: Path,
) -> tuple[dict[str, str], dict[str, tuple[str, ...]], dict[str, str]]:
    data = _read(path)
    chars: dict[str, str] = {}
    for key, value in _mapping(data, "chars", path).items():
        if not isinstance(key, str) or len(key) != 1 or not isinstance(value, str) or not value.isascii():
            raise ValueError(f"{path}: key 'chars': {key!r}: {value!r} must map one character to ASCII")
        chars[key.lower()] = value.lower()
    digits: dict[str, tuple[str, ...]] = {}
    for key, value in _mapping(data, "digits", path).items():
        letters = value if isinstance(value, list) else [value]
        if not (isinstance(key, (str, int)) and str(key).isdigit() and len(str(key)) == 1):
            raise ValueError(f"{path}: key 'digits': {key!r} must be one digit")
        if not letters or not all(isinstance(v, str) and len(v) == 1 and v.isalpha() for v in letters):
            raise ValueError(f"{path}: key 'digits.{key}': must list single letters")
        digits[str(key)] = tuple(v.lower() for v in letters)
    sequences: dict[str, str] = {}
    for key, value in _mapping(data, "sequences", path).items():
        if not isinstance(key, str) or not isinstance(value, str) or not key.isalpha() or not value.isalpha():
            raise ValueError(f"{path}: key 'sequences': {key!r}: {value!r} must map letters to letters")
        sequences[key.lower()] = value.lower()
    return chars, digits, sequences


def _load_requests(path: Path) -> RequestPhrases:
    data = _read(path)
    return RequestPhrases(
        otp_phrases=_strings(data, "otp_phrases", path),
        password_phrases=_strings(data, "password_phrases", path),
        weak_password_words=_strings(data, "weak_password_words", path),
        request_verbs=_strings(data, "request_verbs", path),
        targets=_strings(data, "targets", path),
        excluded_targets=_strings(data, "excluded_targets", path),
        code_exclusions=_strings(data, "code_exclusions", path),
    )


def load_lists(directory: Path | None = None) -> RedFlagLists:
    """Load the red-flag lists from `directory` (default nlu/redflags/); ValueError names file and key."""
    root = LISTS_DIR if directory is None else Path(directory)
    brands, bait, gov = _load_brands(root / "brands.yml")
    apps, app_words = _load_apps(root / "apps.yml")
    chars, digits, sequences = _load_homoglyphs(root / "homoglyphs.yml")
    tld_path = root / "tlds.yml"
    tld_data = _read(tld_path)
    risky = _tlds(tld_data, "risky", tld_path)
    suffixes = _domains(tld_data, "suffixes", tld_path)
    return RedFlagLists(
        brands=brands,
        allow=_domains(_read(root / "allow.yml"), "domains", root / "allow.yml"),
        deny=_domains(_read(root / "deny.yml"), "domains", root / "deny.yml"),
        shorteners=_domains(_read(root / "shorteners.yml"), "domains", root / "shorteners.yml"),
        tlds=_tlds(tld_data, "known", tld_path) | risky,
        risky_tlds=risky,
        ambiguous_tlds=_tlds(tld_data, "ambiguous", tld_path),
        spaced_tlds=_tlds(tld_data, "spaced", tld_path),
        suffixes=suffixes,
        bait_words=bait,
        gov_words=gov,
        apps=apps,
        switch_verbs=app_words["switch_verbs"],
        private_verbs=app_words["private_verbs"],
        private_words=app_words["private_words"],
        private_targets=app_words["private_targets"],
        homoglyphs=chars,
        digit_letters=digits,
        sequences=sequences,
        requests=_load_requests(root / "requests.yml"),
    )


@lru_cache(maxsize=1)
def _default_lists() -> RedFlagLists:
    return load_lists()


# ------------------------------------------------------------------------------------------- folding

_DROPPED = frozenset({"Mn", "Me", "Cf"})


def _fold_char(char: str) -> str:
    """One character folded to exactly one: compatibility form, lower case, no diacritics, đ -> d."""
    lower = char.lower()
    for candidate in (unicodedata.normalize("NFKC", char).lower(), lower):
        decomposed = unicodedata.normalize("NFD", candidate)
        stripped = "".join(c for c in decomposed if unicodedata.category(c) != "Mn").replace("đ", "d")
        if len(stripped) == 1:
            return stripped
    return lower if len(lower) == 1 else char


class _FoldTable(dict[int, "str | None"]):
    """A str.translate table filled on demand: each character folds to one character or is dropped."""

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        value = None if unicodedata.category(char) in _DROPPED else _fold_char(char)
        self[code] = value
        return value


_FOLD_TABLE = _FoldTable()


@dataclass(frozen=True)
class _Folded:
    """A folded copy of a text and the way back: offsets[i] is the original index of folded char i."""

    original: str
    text: str
    offsets: list[int] | None

    def span(self, start: int, end: int) -> tuple[int, int]:
        if self.offsets is None:
            return start, end
        return self.offsets[start], self.offsets[end]

    def source(self, start: int, end: int) -> str:
        a, b = self.span(start, end)
        return self.original[a:b]


def _fold(text: str) -> _Folded:
    if text.isascii():
        return _Folded(text, text.lower(), None)
    folded = text.translate(_FOLD_TABLE)
    if len(folded) == len(text):
        return _Folded(text, folded, None)
    offsets = [i for i, ch in enumerate(text) if _FOLD_TABLE[ord(ch)] is not None]
    offsets.append(len(text))
    return _Folded(text, folded, offsets)


# ------------------------------------------------------------------------------------------- defang

_INVISIBLE_RE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]"
)
_HTTP_RE = re.compile(r"h(tt)p", re.IGNORECASE)
_FTP_RE = re.compile(r"(?<![^\W_])f(t)p(?=s?[ \t]?:)", re.IGNORECASE)
_DOT_RE = re.compile(r"(?<=[\w-])[.\u3002\uff0e\uff61](?=\w)")


def defang(text: str) -> str:
    """Make links in `text` unclickable: http -> hxxp, ftp -> fxp, a dot between two letters -> [.]."""
    text = _INVISIBLE_RE.sub("", text)
    text = _HTTP_RE.sub(
        lambda m: m.group()[0] + ("XX" if m.group(1).isupper() else "xx") + m.group()[3], text
    )
    text = _FTP_RE.sub(lambda m: m.group()[0] + ("X" if m.group(1).isupper() else "x") + m.group()[2], text)
    return _DOT_RE.sub("[.]", text)


def _trim(text: str, limit: int = MAX_SHOWN) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------------------- regex bits

_B = r"(?<![^\W_])"  # word start
_E = r"(?![^\W_])"  # word end
_LABEL = r"[^\W_][\w-]*+"
_LABEL_RE = re.compile(_LABEL)
_DOTWORD = r"(?:\.|dot|cham)"
_OBF_SEP = (
    rf"[ \t]*+(?:\[[ \t]?{_DOTWORD}[ \t]?\]|\([ \t]?{_DOTWORD}[ \t]?\)"
    rf"|\{{[ \t]?{_DOTWORD}[ \t]?\}}|\u3002)[ \t]*+"
)
_SCHEME_RE = re.compile(
    r"(?<![^\W_])(?P<name>h[tx*]{2}ps?|htps?|hxps?|ftps?|fxp)[ \t]?(?::|\[:\]|\(:\))[ \t]?/[ \t]?/[ \t]?"
)
_PLAIN_SCHEMES = frozenset({"http://", "https://", "ftp://", "ftps://"})
_USERINFO_RE = re.compile(r"[^\s/?#@]{1,256}@")
_RAW_HOST_RE = re.compile(r"[^\s/?#:]*+")
_PORT_PATH_RE = re.compile(r"(?::\d{1,5}(?!\d))?(?:[/?#][^\s]*+)?")
_TRAILING = ".,;:!?…'\"»”’)]}>"
_TOKEN_SPLIT_RE = re.compile(r"[-_]+")
_CLAUSE_BREAK_RE = re.compile(r"[.!?;\n]")
_DIGITS_RE = re.compile(r"\D")
_REPEATS_RE = re.compile(r"([a-z])\1+")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def _alternation(phrases: Iterable[str], joiner: str = r"\s{1,3}") -> str:
    """A regex alternation of folded phrases, longest first; words joined by `joiner`."""
    unique = sorted(set(phrases), key=lambda p: (-len(p), p))
    if not unique:
        return r"(?!x)x"
    return "(?:" + "|".join(joiner.join(re.escape(w) for w in p.split()) for p in unique) + ")"


def _word_start(phrases: Collection[str], joiner: str = r"\s{1,3}") -> str:
    """A regex for any of `phrases` at a word start; the first-character lookahead lets the regex
    engine skip most positions without trying the alternation."""
    firsts = "".join(sorted({re.escape(p[0]) for p in phrases if p}))
    return (rf"(?=[{firsts}])" if firsts else "") + _B + _alternation(phrases, joiner)


def _compact(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text)


def _domain_key(domain: str, suffixes: frozenset[str]) -> str:
    """The label of an official domain that names its brand: "dichvucong" for dichvucong.gov.vn,
    "lienquan" for lienquan.garena.vn (the leftmost label that is not "www" or part of the suffix)."""
    labels = domain.split(".")
    if labels and labels[0] == "www":
        labels = labels[1:]
    if len(labels) >= 2 and ".".join(labels[-2:]) in suffixes:
        labels = labels[:-2]
    elif len(labels) >= 2:
        labels = labels[:-1]
    return labels[0] if labels else ""


class _Matchers:
    """Regexes and lookup tables compiled from one RedFlagLists (identity-hashed, for caches)."""

    def __init__(self, lists: RedFlagLists) -> None:
        self.lists = lists
        self.known_tlds = lists.tlds | lists.risky_tlds
        spaced = _alternation(lists.spaced_tlds, "")
        spaced_sep = rf"(?:[ \t]*+\.[ \t]*+|[ \t]++(?:dot|cham)[ \t]++)(?={spaced}(?![\w-]))"
        sep = rf"(?:\.(?=[^\W_])|{_OBF_SEP}(?=[^\W_])|{spaced_sep})"
        self.sep_re = re.compile(sep)
        self.host_re = re.compile(
            rf"(?<![\w@-])(?P<host>{_LABEL}(?:{sep}{_LABEL})++)(?P<port>:\d{{1,5}}(?!\d))?(?P<path>[/?#][^\s]*+)?"
        )
        self.host_body_re = re.compile(rf"{_LABEL}(?:{sep}{_LABEL})*+")
        self.official = lists.allow | frozenset(d for b in lists.brands for d in b.domains)
        self.brand_kind = {b.id: b.kind for b in lists.brands}

        # Brand keys for hosts: names without spaces, and the naming label of each official domain.
        # Keys of 6+ letters match anywhere in a label; shorter ones as a whole token ("vcb-xacminh")
        # or glued to bait words ("vcbxacminh"); keys of 5+ letters also match with a few typos.
        long_keys: dict[str, list[str]] = {}
        short_keys: dict[str, list[str]] = {}
        for brand in lists.brands:
            keys = {_compact(n) for n in brand.names}
            keys |= {_domain_key(d, lists.suffixes) for d in brand.domains}
            for key in sorted(k for k in keys if len(k) >= 2 and not (len(k) == 2 and k.isdigit())):
                table = long_keys if len(key) >= 6 else short_keys
                table.setdefault(key, []).append(brand.id)
        self.long_keys = tuple(
            (k, tuple(v)) for k, v in sorted(long_keys.items(), key=lambda kv: -len(kv[0]))
        )
        self.short_keys = {k: tuple(v) for k, v in short_keys.items()}
        self.fuzzy_keys = tuple(
            (k, ids) for k, ids in (*self.long_keys, *self.short_keys.items()) if len(k) >= 5 and k.isalpha()
        )
        bait_by_first: dict[str, list[str]] = {}
        for word in sorted(lists.bait_words, key=len, reverse=True):
            bait_by_first.setdefault(word[0], []).append(word)
        self.bait_by_first = {k: tuple(v) for k, v in bait_by_first.items()}
        self.bait_sorted = tuple(sorted(lists.bait_words, key=len, reverse=True))
        self.gov_long = tuple(w for w in lists.gov_words if len(w) >= 5)
        self.gov_short = frozenset(w for w in lists.gov_words if len(w) < 5)
        self.homoglyphs = dict(lists.homoglyphs)
        self.max_digit_choices = max((len(v) for v in lists.digit_letters.values()), default=0)

        # Bank and wallet names in text.
        self.bank_names: dict[str, tuple[str, bool]] = {}
        for brand in lists.banks:
            for name in brand.weak_names:
                self.bank_names.setdefault(_compact(name), (brand.id, True))
            for name in brand.names:
                self.bank_names[_compact(name)] = (brand.id, False)
        bank_phrases = [n for b in lists.banks for n in (*b.names, *b.weak_names)]
        self.bank_name_re = re.compile(_word_start(bank_phrases, r"[\s_.-]{0,2}") + _E)

        # OTP and password requests.
        req = lists.requests
        self.verb_re = re.compile(_word_start(req.request_verbs) + _E)
        self.otp_re = re.compile(_word_start(req.otp_phrases) + _E)
        self.password_re = re.compile(_word_start(req.password_phrases) + _E)
        self.weak_password_re = re.compile(_word_start(req.weak_password_words) + _E)
        self.target_re = re.compile(r"[\s:]{0,3}(?:cua\s{1,2})?" + _alternation(req.targets) + _E)
        self.excluded_re = re.compile(r"[\s:]{0,3}" + _alternation(req.excluded_targets) + _E)
        code_verbs = [v for v in req.request_verbs if v not in {"cho", "noi", "ib", "inbox", "bao", "check"}]
        self.code_verb_re = re.compile(
            _word_start(code_verbs)
            + r"(?:\s{1,3}(?:lai|giup|dum|ho|cai|cho|minh|to|em|anh|chi|mk|mik|t|e|a|c|nhanh|ngay)){0,3}"
            + r"\s{1,3}(?:ma|code)"
            + r"(?=\s{1,3}(?:do|day|ay|kia|vua|moi|sms|otp|gui|nhan|tren|trong|ben|cho\s{1,3}"
            + r"(?:minh|to|em|anh|chi|mk|mik|t|e|a|c)))"
            + _E
        )
        self.code_exclusion_re = re.compile(r"\s{1,3}" + _alternation(req.code_exclusions) + _E)

        # App switches.
        self.app_ids: dict[str, str] = {}
        for app in lists.apps:
            for name in app.names:
                self.app_ids.setdefault(_compact(name), app.id)
        name_joiner = r"[\s.-]{0,2}"
        names = _alternation([n for a in lists.apps for n in a.names], name_joiner)
        fillers = (
            r"(?:minh|to|em|anh|chi|mk|mik|t|nhau|voi|cho|lai|ngay|qua|sang|tin|ban|di|nhe|nha|len|vao|thu)"
        )
        self.switch_re = re.compile(
            _word_start(lists.switch_verbs)
            + rf"(?:\s{{1,3}}{fillers}){{0,3}}\s{{1,3}}(?:(?:app|ung\s{{1,2}}dung)\s{{1,3}})?(?P<app>{names})"
            + _E
        )
        strong_names = [n for a in lists.apps for n in a.strong_names]
        all_names = [n for a in lists.apps for n in a.names]
        self.strong_app_re = re.compile(rf"(?P<app>{_word_start(strong_names, name_joiner)})" + _E)
        self.contact_app_re = re.compile(
            rf"(?P<app>{_word_start(all_names, name_joiner)})"
            + _E
            + r"(?=[ \t]{0,2}[:\-]?[ \t]{0,2}(?:@\w|\+?\d{3}))"
        )
        self.private_re = re.compile(
            rf"(?:{_word_start(lists.private_verbs)}\s{{1,3}}(?:tin\s{{1,3}})?{_alternation(lists.private_words)}"
            + rf"|(?=[ipd]){_B}(?:ib|inbox|pm|dm)\s{{1,3}}{_alternation(lists.private_targets)})"
            + _E
        )


# ---------------------------------------------------------------------------------------------- links


@dataclass(frozen=True)
class _Link:
    start: int  # folded positions
    end: int
    reasons: tuple[str, ...]


def _domain_match(host: str, domains: frozenset[str]) -> bool:
    """Whether `host` is one of `domains` or a subdomain of one."""
    if host in domains:
        return True
    pos = host.find(".")
    while pos != -1:
        if host[pos + 1 :] in domains:
            return True
        pos = host.find(".", pos + 1)
    return False


def _is_ipv4(labels: Sequence[str]) -> bool:
    return len(labels) == 4 and all(lab.isdigit() and len(lab) <= 3 and int(lab) <= 255 for lab in labels)


def _is_ip_host(labels: Sequence[str]) -> bool:
    """Dotted IPv4, or one number / hex number (browsers accept http://1745191177/)."""
    if _is_ipv4(labels):
        return True
    return len(labels) == 1 and (
        labels[0].isdigit() or re.fullmatch(r"0x[0-9a-f]{1,8}", labels[0]) is not None
    )


def _decode_punycode(label: str) -> str:
    if not label.startswith("xn--"):
        return label
    try:
        return label[4:].encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return label


def _skeleton(label: str, m: _Matchers) -> str:
    """A label as it looks: diacritics folded and look-alike letters mapped to Latin."""
    folded = label.translate(_FOLD_TABLE)
    return "".join(m.homoglyphs.get(c, c) for c in folded)


def _osa_distance(a: str, b: str, limit: int) -> int:
    """Edit distance with transpositions (optimal string alignment), or limit + 1 once it exceeds limit."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            value = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                value = min(value, before[j - 2] + 1)
            cur[j] = value
        if min(cur) > limit:
            return limit + 1
        before, prev = prev, cur
    return prev[-1]


def _fuzzy_limit(length: int) -> int:
    """Edits allowed between a host label and a brand key of this length (short keys: exact only)."""
    return 2 if length >= 9 else 1 if length >= 5 else 0


@lru_cache(maxsize=8192)
def _is_bait(rest: str, m: _Matchers) -> bool:
    """Whether `rest` is made only of bait words ("xacminh", "hotrokhachhang")."""
    if not rest or len(rest) > 40:
        return False
    ok = [True] + [False] * len(rest)
    for i in range(len(rest)):
        if ok[i]:
            for word in m.bait_by_first.get(rest[i], ()):
                if rest.startswith(word, i):
                    ok[i + len(word)] = True
    return ok[-1]


def _direct_hits(label: str, m: _Matchers) -> list[tuple[str, str]]:
    """(key, brand) pairs for brand names written in a label: whole, with extra words, or as a token."""
    tokens = [t for t in _TOKEN_SPLIT_RE.split(label) if t]
    joined = "".join(tokens)
    hits: list[tuple[str, str]] = []
    for key, ids in m.long_keys:
        if key in joined:
            hits.extend((key, bid) for bid in ids)
    for key, ids in m.short_keys.items():
        if key in tokens or (
            joined != key
            and (
                (joined.startswith(key) and _is_bait(joined[len(key) :], m))
                or (joined.endswith(key) and _is_bait(joined[: -len(key)], m))
            )
        ):
            hits.extend((key, bid) for bid in ids)
    # "shopeepay" also contains "shopee": keep the longest key where one key contains another.
    kept: list[tuple[str, str]] = []
    for key, bid in sorted(hits, key=lambda h: -len(h[0])):
        if not any(key != other and key in other for other, _ in kept):
            kept.append((key, bid))
    return kept


def _fuzzy_hits(label: str, m: _Matchers) -> list[str]:
    tokens = [t for t in _TOKEN_SPLIT_RE.split(label) if t]
    joined = "".join(tokens)
    candidates = {t for t in tokens if 5 <= len(t) <= 40}
    if 5 <= len(joined) <= 40:
        candidates.add(joined)
        for word in m.bait_sorted:
            if joined.endswith(word) and len(joined) - len(word) >= 5:
                candidates.add(joined[: -len(word)])
            if joined.startswith(word) and len(joined) - len(word) >= 5:
                candidates.add(joined[len(word) :])
    hits: list[str] = []
    for cand in sorted(candidates):
        for key, ids in m.fuzzy_keys:
            limit = _fuzzy_limit(len(key))
            # Look-alikes keep the first letter; "arena" is not "garena".
            if (
                cand[0] == key[0]
                and abs(len(cand) - len(key)) <= limit
                and _osa_distance(cand, key, limit) <= limit
            ):
                hits.extend(b for b in ids if b not in hits)
    return hits


def _variants(label: str, m: _Matchers) -> list[str]:
    """The label with digits read as letters and letter pairs read as one ("vietc0mbank", "rn" -> "m")."""
    digit_map = m.lists.digit_letters
    bases = [label]
    if any(c in digit_map for c in label):
        for choice in range(m.max_digit_choices):
            bases.append(
                "".join(
                    digit_map[c][min(choice, len(digit_map[c]) - 1)] if c in digit_map else c for c in label
                )
            )
    out: list[str] = []
    for base in bases:
        seq = base
        for src, dst in m.lists.sequences.items():
            seq = seq.replace(src, dst)
        for v in (base, seq):
            if v != label and v not in out:
                out.append(v)
    return out[:6]


@lru_cache(maxsize=8192)
def _label_hits(label: str, m: _Matchers) -> tuple[tuple[str, ...], bool]:
    """Brands a host label imitates, and whether a digit/letter-pair substitution was needed to see it."""
    label = label[:MAX_LABEL]
    direct = [bid for _, bid in _direct_hits(label, m)]
    substituted: list[str] = []
    for variant in _variants(label, m):
        substituted.extend(b for _, b in _direct_hits(variant, m) if b not in direct and b not in substituted)
    fuzzy: list[str] = []
    if not direct and not substituted:
        squeezed = _REPEATS_RE.sub(r"\1", label)  # "zaalo" -> "zalo"
        fuzzy = [b for _, b in _direct_hits(squeezed, m)] if squeezed != label else []
        fuzzy = fuzzy or _fuzzy_hits(label, m)
    return tuple(dict.fromkeys(direct + substituted + fuzzy)), bool(substituted)


def _has_gov_word(label: str, m: _Matchers) -> bool:
    tokens = [t for t in _TOKEN_SPLIT_RE.split(label) if t]
    joined = "".join(tokens)
    return any(w in joined for w in m.gov_long) or any(t in m.gov_short for t in tokens)


def _core_labels(labels: Sequence[str], m: _Matchers) -> list[str]:
    """Labels without the public suffix (".com", ".com.vn") and without "www"."""
    if len(labels) >= 3 and ".".join(labels[-2:]) in m.lists.suffixes:
        core = list(labels[:-2])
    elif len(labels) >= 2:
        core = list(labels[:-1])
    else:
        core = list(labels)
    return [lab for lab in core if lab and lab != "www"]


def _host_reasons(labels: Sequence[str], m: _Matchers, userinfo: Sequence[str] = ()) -> list[str]:
    """Reason codes for a host given as its labels exactly as a browser would see them (lower case)."""
    labels = [lab[:MAX_LABEL] for lab in labels[:MAX_LABELS] if lab]
    if not labels:
        return []
    host = ".".join(labels)
    reasons: list[str] = []
    if _domain_match(host, m.lists.deny):
        reasons.append("deny_list")
    if _is_ip_host(labels):
        return [*reasons, "ip_host"]
    shown = [_decode_punycode(lab) for lab in labels]
    punycode = any(lab.startswith("xn--") for lab in labels)
    idn = punycode or not host.isascii()
    skeleton = [_skeleton(lab, m) for lab in shown]
    if _domain_match(host, m.lists.shorteners):
        reasons.append("shortener")
    if not idn and _domain_match(host, m.official):
        return [*reasons, "official"]
    if idn and _domain_match(".".join(skeleton), m.lists.deny) and "deny_list" not in reasons:
        reasons.append("deny_list")
    brands: list[str] = []
    substituted = False
    for lab in [*_core_labels(skeleton, m), *(_skeleton(u, m) for u in userinfo[:MAX_LABELS])]:
        hits, sub = _label_hits(lab, m)
        brands.extend(b for b in hits if b not in brands)
        substituted = substituted or (sub and bool(hits))
    reasons.extend(f"lookalike:{b}" for b in brands)
    if substituted or (idn and skeleton != shown):
        reasons.append("homoglyph")
    if punycode:
        reasons.append("punycode")
    gov = any(m.brand_kind.get(b) == "gov" for b in brands)
    if gov or any(_has_gov_word(lab, m) for lab in _core_labels(skeleton, m)):
        reasons.append("fake_gov")
    if skeleton[-1] in m.lists.risky_tlds and len(labels) > 1:
        reasons.append("risky_tld")
    return reasons


def _finish(reasons: list[str], obfuscated: bool) -> tuple[str, ...]:
    if obfuscated:
        reasons.append("obfuscated")
    if not reasons:
        reasons.append("unknown")
    return tuple(dict.fromkeys(reasons))


def _label_spans(f: str, start: int, end: int, m: _Matchers) -> tuple[list[tuple[int, int]], bool]:
    """The labels of a host written at f[start:end], and whether a separator was not a plain dot."""
    spans: list[tuple[int, int]] = []
    obfuscated = False
    pos = start
    while pos < end and len(spans) < MAX_LABELS * 4:
        lm = _LABEL_RE.match(f, pos, end)
        if lm is None:
            break
        spans.append(lm.span())
        pos = lm.end()
        sm = m.sep_re.match(f, pos, end)
        if sm is None or sm.end() == pos:
            break
        obfuscated = obfuscated or sm.group() != "."
        pos = sm.end()
    return spans, obfuscated


def _real_labels(folded: _Folded, spans: Sequence[tuple[int, int]]) -> list[str]:
    """Host labels as the browser gets them: the original characters (diacritics and all), lower case."""
    out = []
    for a, b in spans[:MAX_LABELS]:
        raw = _INVISIBLE_RE.sub("", folded.source(a, min(b, a + MAX_LABEL * 2)))
        out.append(unicodedata.normalize("NFKC", raw).lower()[:MAX_LABEL])
    return out


def _path_end(f: str, start: int, end: int) -> int:
    """End of a link after trailing punctuation is dropped (keeps a ")" that closes a "(" in the path)."""
    while end > start and f[end - 1] in _TRAILING:
        if f[end - 1] == ")" and f.count("(", start, end) >= f.count(")", start, end):
            break
        end -= 1
    return end


def _overlaps(start: int, end: int, spans: Iterable[tuple[int, int]]) -> bool:
    return any(start < b and a < end for a, b in spans)


def _hidden(folded: _Folded, start: int, end: int) -> bool:
    """Whether invisible characters (zero-width space, bidi controls) sit inside the link as written."""
    return folded.offsets is not None and _INVISIBLE_RE.search(folded.source(start, end)) is not None


def _find_links(folded: _Folded, m: _Matchers, limit: int) -> list[_Link]:
    f = folded.text
    links: list[_Link] = []
    # 1. Links with a scheme (also hxxp://, h**ps://, https : //).
    for sm in islice(_SCHEME_RE.finditer(f), MAX_ATTEMPTS):
        if len(links) >= limit:
            break
        pos = sm.end()
        obfuscated = sm.group() not in _PLAIN_SCHEMES
        userinfo: list[str] = []
        um = _USERINFO_RE.match(f, pos)
        if um:
            userinfo = [u for u in re.split(r"[.:]", um.group()[:-1]) if u]
            pos = um.end()
        hm = m.host_body_re.match(f, pos)
        if hm is not None and hm.end() > pos:
            spans, obf = _label_spans(f, pos, hm.end(), m)
            host_end = hm.end()
        else:
            raw = _RAW_HOST_RE.match(f, pos)
            host_end = raw.end() if raw else pos
            spans = [(pos, host_end)] if host_end > pos else []
            obf = False
        tail = _PORT_PATH_RE.match(f, host_end)  # always matches (everything in it is optional)
        end = _path_end(f, pos, tail.end() if tail else host_end)
        if not spans and end == host_end:
            continue
        labels = _real_labels(folded, spans)
        if len(labels) == 1 and "." in labels[0]:
            labels = [lab for lab in labels[0].split(".") if lab]
        reasons = _host_reasons(labels, m, userinfo)
        hidden = obfuscated or obf or _hidden(folded, sm.start(), end)
        links.append(_Link(sm.start(), end, _finish(reasons, hidden)))
    taken = [(link.start, link.end) for link in links]
    # 2. Links without a scheme: labels joined by dots (or [.], (.), " dot ", " chấm ") ending in a TLD.
    with_scheme = len(links)
    for hm in islice(m.host_re.finditer(f), MAX_ATTEMPTS):
        if len(links) - with_scheme >= limit:
            break
        if _overlaps(hm.start(), hm.end(), taken):
            continue
        spans, obf = _label_spans(f, hm.start("host"), hm.end("host"), m)
        texts = [f[a:b] for a, b in spans]
        has_more = hm.group("port") is not None or hm.group("path") is not None
        cut = _tld_cut(texts, has_more, obf, m)
        if cut is None:
            continue
        if cut == len(texts) - 1:
            end = _path_end(f, hm.end("host"), hm.end())
        else:
            end = spans[cut][1]
        reasons = _host_reasons(_real_labels(folded, spans[: cut + 1]), m)
        links.append(_Link(hm.start(), end, _finish(reasons, obf or _hidden(folded, hm.start(), end))))
    return sorted(links, key=lambda link: link.start)


def _tld_cut(texts: Sequence[str], has_more: bool, obfuscated: bool, m: _Matchers) -> int | None:
    """Index of the label that ends the link (its TLD), or None when the text is not a link."""
    if len(texts) < 2:
        return None
    if len(texts) >= 4 and _is_ipv4(texts[:4]):
        return 3 if (has_more and len(texts) == 4) or obfuscated else None
    www = texts[0] == "www"
    last = len(texts) - 1
    for k in range(min(last, MAX_LABELS), 0, -1):
        tld = texts[k]
        host = ".".join(texts[: k + 1])
        known_host = _domain_match(host, m.official) or _domain_match(host, m.lists.shorteners)
        if known_host and not tld.isdigit():
            return k
        if tld in m.known_tlds:
            if tld in m.lists.ambiguous_tlds:
                strong = (k == last and has_more) or www or obfuscated
                if not strong:
                    continue
            if all(t.isdigit() for t in texts[:k]):
                return None
            return k
        if www and k == last and k >= 2 and tld.isalpha() and 2 <= len(tld) <= 24:
            return k
    return None


# ---------------------------------------------------------------------------------------- other kinds

_PHONE_RE = re.compile(
    r"(?=[\d+(])(?<![\d+.,/\-])(?:"
    r"(?P<mobile>0[ .\-]?[35789](?:[ .\-]?\d){8})"
    r"|(?P<mobile84>(?:\(?\+[ ]?84\)?|0084|84)[ .\-]?(?:\(?0\)?[ .\-]?)?[35789](?:[ .\-]?\d){8})"
    r"|(?P<land>0[ .\-]?2(?:[ .\-]?\d){9})"
    r"|(?P<land84>(?:\(?\+[ ]?84\)?|0084)[ .\-]?(?:\(?0\)?[ .\-]?)?2(?:[ .\-]?\d){9})"
    r"|(?P<premium>1900(?:[ .\-]?\d){4}(?:(?:[ .\-]?\d){2})?)"
    r"|(?P<free>1800(?:[ .\-]?\d){4}(?:(?:[ .\-]?\d){2})?)"
    r"|(?P<foreign>(?:\+[ ]?|00)(?!84)[1-9]\d{0,2}(?:[ .\-]?\d){6,11})"
    r")(?!\d)(?![.,]\d)"
)
_PHONE_REASON = {
    "mobile": "phone_mobile",
    "mobile84": "phone_mobile",
    "land": "phone_landline",
    "land84": "phone_landline",
    "premium": "phone_premium",
    "free": "phone_tollfree",
    "foreign": "phone_foreign",
}
# A money unit right after a number ("0912345678đ"); "k" only attached: "0912345678 k nghe" is "không".
_MONEY_AFTER_RE = re.compile(
    r"(?:(?:d|vnd|dong|k|tr|trieu|usd|\$|nghin|ngan|cu)|[ \t](?:d|vnd|dong|tr|trieu|usd|\$|nghin|ngan))" + _E
)
# "Mã OTP của bạn là 0912345678": a code labelled as one is not a phone number.
_OTP_BEFORE_RE = re.compile(_B + r"(?:otp|ma\s+xac\s+\w+|code|ma\s+pin)(?:\s+\w+){0,3}\s*(?::|\sla)\s*$")

_ACCOUNT_NUM = r"(?P<num>\d{2,19}(?:[ .\-]\d{3,19}){0,6})(?!\d)(?![.,]\d)"
_ACCOUNT_KW_RE = re.compile(
    r"(?=[sctaq])"
    + _B
    + r"(?:stk|so\s{0,2}tk|so\s{1,2}tai\s{1,2}khoan|tai\s{1,2}khoan|tk|ck|chuyen\s{1,2}khoan"
    r"|chuyen\s{1,2}tien|account(?:\s{1,2}(?:no|number))?|acc\s{0,2}no|acct|a/c)" + _E
)
_ACCOUNT_AFTER_KW_RE = re.compile(r"(?P<fill>[^\d\n!?]{0,30}?)" + _ACCOUNT_NUM)
_ACCOUNT_NOT_BANK_RE = re.compile(
    _B + r"(?:game|ff|free\s?fire|lq|lien\s?quan|uid|id|roblox|pubg|fb|facebook|zalo|tiktok|ig|nick|discord"
    r"|steam|sdt|so\s{1,2}dien\s{1,2}thoai|dien\s{1,2}thoai|dt|phone|hotline|mat\s{1,2}khau|pass|otp)" + _E
)
_ACCOUNT_AFTER_BANK_RE = re.compile(
    r"[\s:.,\-\u2013(]{0,4}(?:(?:stk|so\s{0,2}tk|tk|so\s{1,2}tai\s{1,2}khoan)[\s:.\-=]{0,4})?" + _ACCOUNT_NUM
)
_ACCOUNT_BEFORE_BANK_RE = re.compile(
    r"(?<![\d.,])(?P<num>\d{2,19}(?:[ .\-]\d{3,19}){0,6})[\s:.,\-\u2013(]{1,4}$"
)
_MONEY_FORMAT_RE = re.compile(r"\d{1,3}(?:[.,]\d{3})+")
_BANK_CONTEXT_RE = re.compile(
    _B + r"(?:stk|so\s?tk|tk|tai\s?khoan|chuyen\s?khoan|chuyen\s?tien|ck|ngan\s?hang|nh|bank|banking|atm"
    r"|so\s?du|rut\s?tien|nap\s?tien|account)" + _E + r"|\d{6,}"
)

_NUM = r"(?:\d{1,3}(?:[.,]\d{3})++|\d++(?:[.,]\d{1,2})?)"
_UNIT = r"(?:nghin|ngan|trieu|dong|vnd|usdt|usd|euro|eur|tr\d{0,3}|cu\d{0,3}|ty\d{0,3}|k|do|d|\$|€)"
_MONEY_RE = re.compile(
    rf"(?=[\d$€u])(?<![\w.,])(?P<num>{_NUM})[ \t]?(?P<unit>{_UNIT})(?![^\W_])"
    rf"|(?<![\w.,$€])(?P<pre>\$|€|usd)[ \t]?(?P<num2>{_NUM})(?![\d])"
)
_ASK_TAIL_RE = re.compile(
    _B + r"(?:la\s{1,2}(?:gi|j|bao\s{1,2}nhieu|so\s{1,2}may)|cua\s{1,2}(?:ban|bn|b|cau|c|em|e|may|m|anh|a|chi"
    r"|con|chau))" + _E
)
_CODE_DIGITS_RE = re.compile(
    r"(?=[mco])"
    + _B
    + r"(?:ma|code|otp)\s{1,3}(?:(?:gom|co)\s{1,3})?(?:\d{1,2}|bon|nam|sau|tam)\s{1,3}(?:chu\s{1,3})?so"
    + _E
)


def _value(num: str) -> float:
    if _MONEY_FORMAT_RE.fullmatch(num):
        return float(_DIGITS_RE.sub("", num))
    return float(num.replace(",", "."))


def _source_lower(folded: _Folded, start: int, end: int) -> str:
    return unicodedata.normalize("NFC", folded.source(start, end)).lower()


def _find_money(folded: _Folded, taken: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    f = folded.text
    found: list[tuple[int, int]] = []
    for mm in islice(_MONEY_RE.finditer(f), MAX_ATTEMPTS):
        if len(found) >= MAX_CANDIDATES:
            break
        if _overlaps(mm.start(), mm.end(), taken):
            continue
        unit = mm.group("unit")
        if unit is not None:
            num = mm.group("num")
            original_unit = _source_lower(folded, *mm.span("unit"))
            if unit == "d" and _value(num) < 1000:
                continue  # "9đ" is 9 points (điểm), not 9 đồng
            if unit == "do" and not original_unit.startswith("đ"):
                continue  # "đô" (dollars), not the word "do"
            if unit.startswith("cu") and original_unit[:2] not in {"củ", "cu"}:
                continue  # "củ" (a million); "1 cú", "cũ" are other words
            if unit.startswith("ty") and original_unit[:2] not in {"tỷ", "tỉ", "ty"}:
                continue  # "tỷ"; "1 tý" means "a little"
            if unit == "k" and num == "2":
                continue  # "2k" is how teens name those born in the 2000s
        found.append(mm.span())
    return found


def _find_phones(folded: _Folded, taken: Sequence[tuple[int, int]]) -> list[tuple[int, int, str]]:
    f = folded.text
    found: list[tuple[int, int, str]] = []
    for pm in islice(_PHONE_RE.finditer(f), MAX_ATTEMPTS):
        if len(found) >= MAX_CANDIDATES:
            break
        start, end = pm.span()
        if _overlaps(start, end, taken) or _MONEY_AFTER_RE.match(f, end):
            continue
        if _OTP_BEFORE_RE.search(f, max(0, start - 30), start):
            continue
        found.append((start, end, _PHONE_REASON[pm.lastgroup or "mobile"]))
    return found


def _account_ok(f: str, start: int, end: int) -> bool:
    num = f[start:end]
    digits = _DIGITS_RE.sub("", num)
    if not 8 <= len(digits) <= 19:
        return False
    if _MONEY_FORMAT_RE.fullmatch(num) and any(c in num for c in ".,"):
        return False
    return _MONEY_AFTER_RE.match(f, end) is None


def _find_bank_names(
    folded: _Folded, m: _Matchers, taken: Sequence[tuple[int, int]]
) -> list[tuple[int, int, str]]:
    f = folded.text
    found: list[tuple[int, int, str]] = []
    for bm in islice(m.bank_name_re.finditer(f), MAX_ATTEMPTS):
        if len(found) >= MAX_CANDIDATES:
            break
        start, end = bm.span()
        if _overlaps(start, end, taken):
            continue
        bid, weak = m.bank_names.get(_compact(bm.group()), ("", True))
        if not bid:
            continue
        if weak and not _BANK_CONTEXT_RE.search(f, max(0, start - 40), min(len(f), end + 40)):
            continue
        found.append((start, end, bid))
    return found


def _find_accounts(
    folded: _Folded, banks: Sequence[tuple[int, int, str]], taken: Sequence[tuple[int, int]]
) -> list[tuple[int, int]]:
    f = folded.text
    found: list[tuple[int, int]] = []

    def add(start: int, end: int) -> None:
        if _account_ok(f, start, end) and not _overlaps(start, end, [*taken, *found]):
            found.append((start, end))

    for km in islice(_ACCOUNT_KW_RE.finditer(f), MAX_ATTEMPTS):
        if len(found) >= MAX_CANDIDATES:
            break
        am = _ACCOUNT_AFTER_KW_RE.match(f, km.end())
        if (
            am is None
            or _ACCOUNT_NOT_BANK_RE.search(am.group("fill"))
            or _CLAUSE_BREAK_RE.search(am.group("fill"))
        ):
            continue
        add(*am.span("num"))
    for start, end, _ in banks:
        after = _ACCOUNT_AFTER_BANK_RE.match(f, end)
        if after is not None:
            add(*after.span("num"))
        before = _ACCOUNT_BEFORE_BANK_RE.search(f, max(0, start - 60), start)
        if before is not None:
            add(*before.span("num"))
    return found


def _clause_start(f: str, start: int, reach: int) -> int:
    """Where the clause containing f[start] begins, looking back at most `reach` characters."""
    lo = max(0, start - reach)
    cut = lo
    for bm in _CLAUSE_BREAK_RE.finditer(f, lo, start):
        cut = bm.end()
    return cut


def _verb_before(
    f: str, start: int, m: _Matchers, reach: int = 30, skip: frozenset[str] = frozenset()
) -> int | None:
    """Start of the first request verb in the same clause within `reach` characters before `start`."""
    lo = _clause_start(f, start, reach)
    for vm in m.verb_re.finditer(f, lo, start):
        if vm.group() not in skip:
            return vm.start()
    return None


def _ask_after(f: str, end: int) -> bool:
    """Whether a question about the thing follows ("là gì", "của bạn") in the same clause."""
    hi = min(len(f), end + 30)
    cut = _CLAUSE_BREAK_RE.search(f, end, hi)
    return _ASK_TAIL_RE.search(f, end, cut.start() if cut else hi) is not None


def _find_requests(
    folded: _Folded, m: _Matchers, taken: Sequence[tuple[int, int]]
) -> list[tuple[int, int, str]]:
    f = folded.text
    found: list[tuple[int, int, str]] = []

    def add(start: int, end: int, reason: str) -> None:
        if len(found) < MAX_CANDIDATES and not _overlaps(
            start, end, [*taken, *((a, b) for a, b, _ in found)]
        ):
            found.append((start, end, reason))

    for om in islice(m.otp_re.finditer(f), MAX_ATTEMPTS):
        if len(found) >= MAX_CANDIDATES:
            break
        verb = _verb_before(f, om.start(), m, skip=frozenset({"cho", "noi"}))
        add(om.start() if verb is None else verb, om.end(), "otp_request")
    for cm in islice(_CODE_DIGITS_RE.finditer(f), MAX_ATTEMPTS):
        verb = _verb_before(f, cm.start(), m, skip=frozenset({"cho", "noi"}))
        add(cm.start() if verb is None else verb, cm.end(), "otp_request")
    for vm in islice(m.code_verb_re.finditer(f), MAX_ATTEMPTS):
        if not m.code_exclusion_re.match(f, vm.end()):
            add(vm.start(), vm.end(), "otp_request")
    for pm in islice(m.password_re.finditer(f), MAX_ATTEMPTS):
        if len(found) >= MAX_CANDIDATES:
            break
        if m.excluded_re.match(f, pm.end()):
            continue
        verb = _verb_before(f, pm.start(), m)
        if verb is not None or _ask_after(f, pm.end()):
            add(pm.start() if verb is None else verb, pm.end(), "password_request")
    for wm in islice(m.weak_password_re.finditer(f), MAX_ATTEMPTS):
        if len(found) >= MAX_CANDIDATES:
            break
        target = m.target_re.match(f, wm.end())
        if target is None or m.excluded_re.match(f, wm.end()):
            continue
        verb = _verb_before(f, wm.start(), m, reach=20, skip=frozenset({"cho", "noi", "check"}))
        if verb is not None or _ask_after(f, target.end()):
            add(wm.start() if verb is None else verb, target.end(), "password_request")
    return found


def _find_app_switches(
    folded: _Folded, m: _Matchers, taken: Sequence[tuple[int, int]]
) -> list[tuple[int, int, str]]:
    f = folded.text
    found: list[tuple[int, int, str]] = []
    for regex in (m.switch_re, m.contact_app_re, m.strong_app_re):
        for am in islice(regex.finditer(f), MAX_ATTEMPTS):
            if len(found) >= MAX_CANDIDATES:
                break
            start, end = am.span()
            spans = [*taken, *((a, b) for a, b, _ in found)]
            if _overlaps(*am.span("app"), taken) or _overlaps(start, end, spans):
                continue
            app = m.app_ids.get(_compact(am.group("app")))
            if app is not None:
                found.append((start, end, f"app_switch:{app}"))
    for pm in islice(m.private_re.finditer(f), MAX_ATTEMPTS):
        if len(found) >= MAX_CANDIDATES:
            break
        if not _overlaps(*pm.span(), [*taken, *((a, b) for a, b, _ in found)]):
            found.append((*pm.span(), "app_switch:private"))
    return found


# ---------------------------------------------------------------------------------------------- API


def _flag(folded: _Folded, kind: RedFlagKind, start: int, end: int, reasons: Sequence[str]) -> RedFlag | None:
    a, b = folded.span(start, end)
    if b <= a:
        return None
    source = folded.original[a:b]
    shown = _trim(defang(source)) if kind is RedFlagKind.LINK else _trim(source)
    shown = _SURROGATE_RE.sub("\ufffd", shown)  # a lone surrogate is not valid text for the model
    return RedFlag(kind=kind, start=a, end=b, shown=shown or "…", reasons=tuple(reasons))


def find_red_flags(text: str, lists: RedFlagLists | None = None) -> tuple[RedFlag, ...]:
    """Red flags in a message (links, phones, bank details, money, OTP/password and app-switch requests),
    sorted by start; spans index the original text. At most MAX_FLAGS, from the first MAX_TEXT characters."""
    if not text:
        return ()
    m = (lists or _default_lists())._matchers
    folded = _fold(text[:MAX_TEXT])
    raw: list[tuple[RedFlagKind, int, int, tuple[str, ...]]] = []

    links = _find_links(folded, m, MAX_FLAGS)
    link_spans = [(link.start, link.end) for link in links]
    raw.extend((RedFlagKind.LINK, link.start, link.end, link.reasons) for link in links)

    banks = _find_bank_names(folded, m, link_spans)
    raw.extend((RedFlagKind.BANK_NAME, s, e, (f"bank_name:{bid}",)) for s, e, bid in banks)
    accounts = _find_accounts(folded, banks, link_spans)
    raw.extend((RedFlagKind.BANK_ACCOUNT, s, e, ("bank_account",)) for s, e in accounts)
    claimed = [*link_spans, *accounts]
    phones = _find_phones(folded, claimed)
    raw.extend((RedFlagKind.PHONE, s, e, (reason,)) for s, e, reason in phones)
    claimed += [(s, e) for s, e, _ in phones]
    raw.extend((RedFlagKind.MONEY, s, e, ("money",)) for s, e in _find_money(folded, claimed))
    raw.extend((RedFlagKind.OTP_REQUEST, s, e, (r,)) for s, e, r in _find_requests(folded, m, link_spans))
    raw.extend((RedFlagKind.APP_SWITCH, s, e, (r,)) for s, e, r in _find_app_switches(folded, m, link_spans))

    raw.sort(key=lambda r: (r[1], r[2], r[0].value))
    flags: list[RedFlag] = []
    for kind, start, end, reasons in raw:
        flag = _flag(folded, kind, start, end, reasons)
        if flag is not None:
            flags.append(flag)
        if len(flags) >= MAX_FLAGS:
            break
    return tuple(flags)


def check_link(url: str, lists: RedFlagLists | None = None) -> tuple[str, ...]:
    """Reason codes for one link, from its host (never "safe"; at best "official")."""
    m = (lists or _default_lists())._matchers
    folded = _fold(url.strip()[:MAX_URL])
    links = _find_links(folded, m, 1)
    if links and links[0].start == 0:
        return links[0].reasons
    # Not written like a link in a message: read everything up to / ? # as the host.
    text = _INVISIBLE_RE.sub("", url.strip()[:MAX_URL])
    text = re.sub(r"^[a-z*]{3,6}[ \t]?(?::|\[:\])[ \t]?//", "", text, flags=re.IGNORECASE)
    obfuscated = bool(re.search(r"\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)", text, re.IGNORECASE))
    text = re.sub(r"\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)", ".", text, flags=re.IGNORECASE)
    host = re.split(r"[\s/?#]", text, maxsplit=1)[0].rsplit("@", 1)[-1]
    host = re.sub(r":\d{1,5}$", "", host)
    labels = [lab for lab in unicodedata.normalize("NFKC", host).lower().split(".") if lab]
    return _finish(_host_reasons(labels, m), obfuscated)


__all__ = [
    "LISTS_DIR",
    "MAX_FLAGS",
    "App",
    "Brand",
    "RedFlagLists",
    "RequestPhrases",
    "check_link",
    "defang",
    "find_red_flags",
    "load_lists",
]
