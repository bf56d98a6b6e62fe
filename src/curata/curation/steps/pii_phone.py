"""Phone numbers for the ``pii`` step: phonenumbers' validity per region, the international
form, and the shape of a phone number next to a word that says it is one.

Three ways a number is found, each then passing the same guards:

1. **Valid in a region**: what Presidio's ``PhoneRecognizer`` does (phonenumbers'
   ``PhoneNumberMatcher`` at leniency ``VALID`` in each region, score 0.4, only around runs of
   7+ digits), reimplemented so that the regions can differ per record: the step's
   ``phone_regions`` (Presidio's eight by default) plus the record's own, when its metadata
   names one. A valid number whose digit chain reaches further left by a country code, a
   bracketed area code or a short group is widened to the whole chain (phonenumbers takes
   ``(0)83 979 84 21`` of ``+41 (0)83 979 84 21``).
2. **International form**: ``+``, ``(+CC)`` or ``00CC`` then a separator, and a length numbers
   of that country code can have (phonenumbers' ``is_possible_number``, not its validity):
   score 0.4, no phone word needed. ``+41 60 052 81 27`` is a possible Swiss number that no
   Swiss operator has been given.
3. **Shape and context**: a chain of 7-15 digits (E.164's most; 6 in three groups, as in
   Greenland's ``35 97 03``) in groups split by single spaces, dots, dashes or slashes, with
   bracketed groups (``(0)``, ``(85)``), at most one single-digit group and an optional
   extension, that is not a date, years, opening hours, an SSN or a ZIP+4 code, with a phone
   word next to it: score 0.3, which the context raises to 0.65.

Context. Before the number, the five words on its line (or, when it starts its line, on a line
above that ends with a colon: ``Phone:``/``9469 9966``), nearest first, skipping fillers (``me``,
``at``, ``is``, ...): a phone word (``PHONE_WORDS``) counts; so does a head noun whose qualifier
is one (``phone number``, ``area code``), and ``number`` as the nearest word (``my number is``);
an identifier's noun as the nearest word (``ISBN``, ``order``, ``zip code``, ``licence
number``: ``IDENTIFIER_WORDS``) makes the number no phone at all. A label (``LABEL_WORDS``:
desk, office, home, ...; or ``T``, ``M``, ``Ph``, ``Mob``, ...) counts right before with a colon
(``Desk: 07700 316 475``), and a phone or label word right after the number counts
(``605 710 642-Office``, ``8240084271 mobile``, ``274 00 13 (phone)``). Words are whole and
lower-cased: ``hotel`` is not ``tel``. Context raises a score by 0.35, to at least 0.4
(Presidio's context enhancer).

Guards, for every kind: a bare run of digits (``Order 1234567890``) needs a phone word; part
of a longer token (``10.1145/361953`` in a DOI), a decimal (``0.693147181``, a valid French
number) or a list of them, a negative number, an IPv4 address or network, a range of years or
pages (``1800-1820``), an amount (a currency sign, ``%`` or a unit such as ``VND``
or ``users`` next to it), a match spread over a tab, a line break or a double space, and a
street or apartment number (a street-type word among the four words after it on its line:
``0263 4748 Westfall Avenue``; ``Apt``/``Suite`` right before it) are not phones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import phonenumbers


def _vocabulary(words: str) -> frozenset[str]:
    return frozenset(words.split())


PRESIDIO_REGIONS = ("US", "GB", "DE", "FR", "IL", "IN", "CA", "BR")
"""Presidio's ``PhoneRecognizer.DEFAULT_SUPPORTED_REGIONS``."""
SUPPORTED_REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)
VALID_SCORE = 0.4  # Presidio's PhoneRecognizer.SCORE
INTERNATIONAL_SCORE = 0.4
SHAPE_SCORE = 0.3
CONTEXT_BOOST, CONTEXT_FLOOR = 0.35, 0.4
MIN_DIGITS, MAX_DIGITS = 7, 15  # E.164 allows 15 digits, country code included
MIN_GROUPED_DIGITS = 6  # "35 97 03" (Greenland, the Faroes), in groups and next to a phone word

PHONE_WORDS = _vocabulary(
    # English ("text" only in "text me"/"text us"), then phone and mobile in other languages
    "phone phones phoned telephone telephones tel cellphone cell cellular mobile fax faxes "
    "call calls called calling dial contact whatsapp sms texted texting message "
    "messages msg voicemail hotline helpline landline caller callback telefon telefono "
    "teléfono telefone téléphone tél handy móvil movil celular cellulare portable mobil mobiel "
    "gsm puhelin"
)
LABEL_WORDS = _vocabulary(
    "desk office home work direct main private business switchboard reception"
)
COLON_LABELS = _vocabulary("t m f p ph mob tlf")  # "T: +44 20 7946 0958", "Ph: ...": with ":"
HEAD_WORDS = frozenset({"number", "num", "code", "no", "nr"})
"""Nouns a qualifier before them decides: phone number, area code; licence number, zip code.
Unqualified, "number" counts as a phone word when it is the nearest word; the others not."""
FILLER_WORDS = _vocabulary(
    "is was are be at on to me us him her them my our your his their its the a an"
)
IDENTIFIER_WORDS = _vocabulary(
    # nouns of numbers that are not phones
    "license licence driver drivers card credit debit account acct order invoice tracking "
    "reference ref serial policy member membership customer client case ticket confirmation "
    "booking registration vat tax passport id identity identification social security ssn "
    "routing sort bank iban swift bic part model product item lot batch version build patient "
    "claim employee student insurance certificate transaction receipt cheque check pin zip "
    "postal post postcode zipcode isbn issn flight seat house street apartment unit room imei "
    "imsi iccid meid sim"
)
QUANTITY_WORDS = _vocabulary(
    # a number followed by one of these is an amount: "1 299 000 VND", "2 500 000 users"
    "usd eur gbp jpy cny inr vnd rub chf sek nok dkk pln czk huf brl krw aud cad dollars "
    "euros pounds yen rupees kr km kg mb gb tb kb mm cm mi lb lbs ft people users visitors "
    "views downloads times items copies units pixels bytes words characters votes"
)
STREET_WORDS = _vocabulary(
    "street st str road rd avenue ave av lane ln drive dr court ct place pl boulevard blvd way "
    "square sq terrace close crescent highway hwy parkway pkwy circle cir alley row walk "
    "rue chemin allée allee strasse straße gasse weg platz calle avenida rua via viale piazza "
    "plein vej gade vei gata gatan katu utca ulica"
)
APARTMENT_WORDS = _vocabulary("apt apartment suite ste unit flat box room floor bldg")

_CHAIN = re.compile(  # digit groups, single separators, one bracketed group ("(0)", "(+44)")
    r"(?<![\w+])(?<!\w[.,/-])(?:\+|\(\+\d{1,3}\) ?)?(?:\(\d{1,5}\) ?)?\d+"
    r"(?:(?:[ .\-/]?\(\d{1,5}\) ?|[ .\-/])\d+)*"
)
_EXTENSION = re.compile(  # what follows a number as its extension: "x123", "ext. 4567"
    r"[ ,;]{0,3}(?i:e?xt(?:ension|n)?\.?|x|#|int\.?|anexo|доб\.?)[ :=.]{0,3}\d{1,20}"
)
_SCAN = re.compile(r"\d(?:[\s().\-/]{0,3}\d){6,}")  # where phonenumbers looks: 7+ digits
_DECIMAL = re.compile(r"[+-]?\d+[.,]\d+")  # "0.333333333" is a valid French phone number
_IPV4 = re.compile(r"(?:\d{1,3}\.){3}\d{1,3}(?:/\d{1,2})?")  # with a CIDR prefix length
_RANGE = re.compile(r"(\d\d)(\d+)[-–](\d\d)(\d+)")  # years "1800-2299", pages "18583-18590"
_DAY, _MONTH, _YEAR = r"(?:0?[1-9]|[12]\d|3[01])", r"(?:0?[1-9]|1[0-2])", r"(?:19|20)\d\d"
_HHMM = r"(?:[01]\d|2[0-3])[0-5]\d"
_NOT_PHONE_SHAPES = (
    re.compile(r"\d{4}([-/.])\d{1,2}\1\d{1,2}|\d{1,2}([-/.])\d{1,2}\2(?:\d{4}|\d{2})"),  # dates
    re.compile(rf"{_YEAR} {_MONTH} {_DAY}|{_DAY} {_MONTH} {_YEAR}|{_MONTH} {_DAY} {_YEAR}"),
    re.compile(rf"{_YEAR}(?:[ /\-]{_YEAR})+"),  # years "2019 2020 2021", "2023/2024"
    re.compile(rf"{_HHMM}-{_HHMM}"),  # opening hours "0900-1730"
    re.compile(r"\d{3}-\d\d-\d{4}"),  # US SSN
    re.compile(r"\d{5}-\d{4}"),  # US ZIP+4
)
_ZIP_PLUS_4 = _NOT_PHONE_SHAPES[-1]  # "Boston, MA 02110-1301" (every GPL footer): never a phone
_DECIMALS = re.compile(r"(?:^| )\d+\.\d+(?: |$)")  # one of a list: "21.340 14.270"
_CURRENCY = "$€£¥₹₽₩"
_INTERNATIONAL = re.compile(r"\(?\+|00\d{1,3}[ .\-/(]")
_WORDS = re.compile(r"[^\W\d]+")  # "example_number" is one word
_LABEL_BEFORE = re.compile(r"([^\W\d_]+)\.?\s*[:：]\s*\(?$")
_AFTER = re.compile(r"[ \t]*[-–,(/]?[ \t]*([^\W\d_]+)")
_STREET_AFTER = re.compile(r"[ \t]*((?:[^\W\d_]+[.'’\-]?[ \t]*){1,4})")
_GAP = re.compile(r"\s\s|[\t\n]")
_BEFORE_CHARS = 80


_REGION_ALIASES = {"UK": "GB"}


def region_code(value: Any) -> str | None:
    """The region a metadata value names: a locale (``de_DE``, ``de-DE``, ``sr_Latn_RS``,
    ``en_US.UTF-8``) or a region code (``DE``, ``de``); None when it names none phonenumbers
    knows. A bare code is read as a region: ``CA`` is Canada, not Catalan. ``UK``, which ISO
    3166-1 reserves for the United Kingdom at its request and locales such as ``en_UK`` use,
    is read as ``GB``."""
    if not isinstance(value, str):
        return None
    parts = re.split(r"[_\-]", value.strip().split(".")[0].split("@")[0])
    code = _REGION_ALIASES.get(parts[-1].upper(), parts[-1].upper())
    return code if code in SUPPORTED_REGIONS else None


def check_regions(codes: Iterable[str]) -> tuple[str, ...]:
    """``codes`` upper-cased and de-duplicated; ValueError naming any phonenumbers lacks."""
    out = tuple(dict.fromkeys(c.strip().upper() for c in codes))
    unknown = [c for c in out if c not in SUPPORTED_REGIONS]
    if unknown:
        hint = " (the United Kingdom is GB)" if "UK" in unknown else ""
        raise ValueError(
            f"unknown region {', '.join(map(repr, unknown))}{hint}: use ISO 3166-1 alpha-2 "
            f"codes that phonenumbers knows, such as {', '.join(PRESIDIO_REGIONS)}"
        )
    return out


def find_phones(text: str, regions: Sequence[str]) -> list[tuple[int, int, float]]:
    """(start, end, score) of the phone numbers in ``text``, checking validity in ``regions``
    (see the module docstring); overlapping results are left to the caller to resolve."""
    chains = [span for m in _CHAIN.finditer(text) if (span := _chain(text, m)) is not None]
    found: dict[tuple[int, int], tuple[float, bool]] = {}  # span: (score, needs a phone word)
    for start, end in _valid(text, regions):
        bare = text[start:end].strip("()[]{}").isdigit()
        for c_start, c_end in chains:
            if c_start < start < c_end and end <= c_end and _widens(text[c_start:start]):
                start = c_start
        found[(start, end)] = (VALID_SCORE, bare)
    for start, end in chains:
        if any(s < end and start < e for s, e in found):
            continue
        value = text[start:end]
        if _INTERNATIONAL.match(value) and _possible(value):
            found[(start, end)] = (INTERNATIONAL_SCORE, False)
        elif _shaped(value):
            found[(start, end)] = (SHAPE_SCORE, True)
    out = []
    for (start, end), (score, needs_context) in found.items():
        if _not_a_phone(text, start, end) or _street_number(text, start, end):
            continue
        context = phone_context(text, start, end)
        if context is None or (needs_context and not context):
            continue
        if context:
            score = min(1.0, max(score + CONTEXT_BOOST, CONTEXT_FLOOR))
        out.append((start, end, score))
    return sorted(out)


def phone_context(text: str, start: int, end: int) -> bool | None:
    """True when a phone word is next to ``text[start:end]``, False when none is, None when the
    nearest word before it names another kind of number (then it is no phone)."""
    line_start = text.rfind("\n", 0, start) + 1
    before = text[line_start:start]
    if not _WORDS.search(before) and line_start > 0:  # "Phone:" on the line above
        above = text[text.rfind("\n", 0, line_start - 1) + 1 : line_start - 1].rstrip()
        if above.endswith((":", "：")):
            before = above
    before = before[-_BEFORE_CHARS:].lower()
    words = _WORDS.findall(before)[-5:]
    nearest = True
    for i in range(len(words) - 1, -1, -1):
        word = words[i]
        if word in FILLER_WORDS:
            continue
        if word in HEAD_WORDS:
            qualifier = words[i - 1] if i else ""
            if qualifier in IDENTIFIER_WORDS:
                return None
            if qualifier in PHONE_WORDS or qualifier in ("area", "country", "dialling", "dialing"):
                return True
            if nearest and word in ("number", "num"):
                return True
        elif word in PHONE_WORDS or (word == "text" and words[i + 1 : i + 2] in (["me"], ["us"])):
            return True
        elif nearest and word in IDENTIFIER_WORDS:
            return None
        nearest = False
    label = _LABEL_BEFORE.search(before)
    if label and (label.group(1) in LABEL_WORDS or label.group(1) in COLON_LABELS):
        return True
    after = _AFTER.match(text, end)
    if after:
        word = after.group(1).lower()
        if (word in PHONE_WORDS and word not in HEAD_WORDS) or word in LABEL_WORDS:
            return True
    return False


def _chain(text: str, m: re.Match[str]) -> tuple[int, int] | None:
    """The span of a digit chain with its extension, if it has a phone number's length."""
    start, end = m.span()
    digits = sum(c.isdigit() for c in m.group())
    if not MIN_GROUPED_DIGITS <= digits <= MAX_DIGITS:
        return None
    if digits < MIN_DIGITS and (len(re.findall(r"\d+", m.group())) < 3 or "." in m.group()):
        return None
    if ext := _EXTENSION.match(text, end):
        end = ext.end()
    if end < len(text) and (text[end].isalnum() or text[end] == "_"):
        return None
    return start, end


def _not_a_phone(text: str, start: int, end: int) -> bool:
    """Whether a match is part of a longer token, reads as a decimal (or a list of them), a
    ZIP+4 code (even where it is a valid number somewhere: ``02110-1301``), a negative number,
    a sum, an IPv4 address or network, a range of years or pages or an amount
    (a currency or unit next to it), or spreads over a line break, a tab or a double space."""
    if _inside_a_token(text, start, end):
        return True
    value = text[start:end].strip("()[]{} ")
    if _DECIMAL.fullmatch(value) or _IPV4.fullmatch(value) or _ZIP_PLUS_4.fullmatch(value):
        return True
    if _GAP.search(value):
        return True
    if value.startswith(("-", "+ ")) or (" " in value and _DECIMALS.search(value)):
        return True
    if _is_range(value):
        return True
    before, following = text[max(0, start - 2) : start].strip(), text[end : end + 2].strip()
    if (before and before[-1] in _CURRENCY) or (following and following[0] in _CURRENCY + "%"):
        return True
    after = _AFTER.match(text, end)
    return after is not None and after.group(1).lower() in QUANTITY_WORDS


def _inside_a_token(text: str, start: int, end: int) -> bool:
    """Whether the match is part of a longer token: "10.1145/361953" (a DOI), "0.07318536-0.3"."""
    before, after = text[max(0, start - 2) : start], text[end : end + 2]
    return (len(before) == 2 and before[1] in ".,/-" and before[0].isdigit()) or (
        len(after) == 2 and after[0] in ".,/-" and after[1].isdigit()
    )


def _is_range(value: str) -> bool:
    """Whether ``value`` is two numbers of one length, the second the larger, that share their
    first two digits or are both years (1000-2999): pages, years, not a phone number."""
    r = _RANGE.fullmatch(value)
    if not r or len(r[2]) != len(r[4]) or r[1] + r[2] >= r[3] + r[4]:
        return False
    return r[1] == r[3] or (len(r[1] + r[2]) == 4 and r[1][0] in "12" and r[3][0] in "12")


def _shaped(value: str) -> bool:
    """Whether a chain, lacking only a context word, reads as a phone number: not a date, an
    SSN or a ZIP+4 code, and at most one single-digit group."""
    number = _EXTENSION.split(value)[0]
    if any(p.fullmatch(number) for p in _NOT_PHONE_SHAPES):
        return False
    return sum(len(g) == 1 for g in re.findall(r"\d+", number)) <= 1


def _possible(value: str) -> bool:
    """Whether ``+``/``00`` and what follows can be a number of the country code it names."""
    number = re.sub(r"^(?:00|\(\+)", "+", value)
    try:
        return phonenumbers.is_possible_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return False


def _widens(prefix: str) -> bool:
    """Whether the part of a chain left of a valid number is its country or area code."""
    digits = sum(c.isdigit() for c in prefix)
    return bool(re.fullmatch(r"(?:\+\d{1,3}|00\d{1,3}|\(\d{1,5}\)|\d{1,4})[ .\-/]?", prefix)) and (
        digits <= 4
    )


def _valid(text: str, regions: Sequence[str]) -> set[tuple[int, int]]:
    """Spans phonenumbers finds valid in one of ``regions``, looking only around runs of 7+
    digits (it scans the whole text once per region: slow on long texts). A window reaches over
    an extension after the digits, which phonenumbers makes part of the number."""
    spans: set[tuple[int, int]] = set()
    for m in _SCAN.finditer(text):
        lo, hi = max(0, m.start() - 4), m.end() + 4
        if ext := _EXTENSION.match(text, m.end()):
            hi = ext.end() + 4
        window = text[lo:hi]
        for region in regions:
            for match in phonenumbers.PhoneNumberMatcher(
                window, region, leniency=phonenumbers.Leniency.VALID
            ):
                spans.add((lo + match.start, lo + match.end))
    return spans


def _street_number(text: str, start: int, end: int) -> bool:
    """Whether the number is a street or building number: a street-type word among the (up to
    four) words right after it on its line, or an apartment word right before it."""
    after = _STREET_AFTER.match(text, end)
    if after and any(w in STREET_WORDS for w in _WORDS.findall(after.group(1).lower())):
        return True
    before = text[max(0, start - 20) : start].lower().rstrip(" .#:")
    word = _WORDS.findall(before)[-1:]
    return bool(word) and word[0] in APARTMENT_WORDS and before.endswith(word[0])
