"""Oracle for stogger's `_replace_msg` templates: CPython's own format
machinery on the same values.

Reads one JSON object per line on stdin: {"template": str, "fields":
{name: value}, "scope": str|null, "func": str|null}, where a value is
{"s": str} (text), {"i": int}, {"f": "<16 hex digits of the IEEE bits>"},
or {"b": bool}. Writes one JSON line per request: {"out": str}, or
{"syntax": message} when CPython rejects the template as a whole.

The template is split by CPython's own parser (`_string.formatter_parser`,
what `str.format` uses); each replacement field is rendered on its own so
that a field CPython cannot render becomes `<missing>` (KeyError) or
`<bad format>` (any other error) and the rest of the text still renders,
as stogger documents. Names are looked up whole (`{user.id}` is the field
`user.id`; stogger has no attribute or index access); keys starting with
`_` are never found; `scope` and `func` come last. Conversions are
Python's `repr`, `str`, `ascii`; specs go to Python's `format()`.
stogger refuses widths and precisions above 10000 (`<bad format>`).

One documented difference is not compared: `!r` escapes the characters
stogger calls unprintable (controls, the invisible formatting characters
it lists), while CPython escapes whatever its Unicode tables call
unprintable (unassigned and private-use characters too, and which those
are changes with the Unicode version of each Python release). A template
that `!r`-converts a string holding a character the two judge differently
answers {"skip": why}.
"""
import _string
import json
import re
import struct
import sys
import unicodedata

MAX_WIDTH = 10000
SPEC = re.compile(r"^(?:.?[<>=^])?[-+ ]?z?#?0?(\d*)[,_]?(?:\.(\d*))?.?$", re.S)


class Missing(Exception):
    pass


class Bad(Exception):
    pass


class Skip(Exception):
    pass


def stogger_unprintable(c):
    """stogger's `is_unprintable` (docs/output-format.md)."""
    o = ord(c)
    return (unicodedata.category(c) == "Cc"
            or o in (0xA0, 0xAD, 0x61C, 0x1680, 0x180E, 0x3000, 0xFEFF)
            or 0x2000 <= o <= 0x200F or 0x2028 <= o <= 0x202F
            or 0x205F <= o <= 0x2064 or 0x2066 <= o <= 0x206F)


def value(v):
    if "s" in v:
        return v["s"]
    if "i" in v:
        return v["i"]
    if "f" in v:
        return struct.unpack("<d", struct.pack("<Q", int(v["f"], 16)))[0]
    return v["b"]


def lookup(name, fields, scope, func):
    if name.startswith("_"):
        raise Missing()
    if name in fields:
        return fields[name]
    if name == "scope" and scope is not None:
        return scope
    if name == "func" and func is not None:
        return func
    raise Missing()


def too_wide(spec):
    # Digits in a spec are its width and precision, except a digit used as
    # the fill character, which the regex's optional fill takes first.
    m = SPEC.match(spec)
    if not m:
        return False
    return any(g and int(g) > MAX_WIDTH for g in m.groups())


def build(template, ctx, depth):
    """CPython's build_string: raises on anything it rejects."""
    if depth <= 0:
        raise Bad("Max string recursion exceeded")
    out = []
    for literal, name, spec, conv in _string.formatter_parser(template):
        out.append(literal)
        if name is None:
            continue
        out.append(field(name, spec, conv, ctx, depth))
    return "".join(out)


def field(name, spec, conv, ctx, depth):
    obj = lookup(name, *ctx)
    if conv == "r" and isinstance(obj, str):
        if any(c.isprintable() == stogger_unprintable(c) for c in obj):
            raise Skip("repr of a character Unicode's tables and stogger judge differently")
    if conv is not None:
        if conv == "r":
            obj = repr(obj)
        elif conv == "s":
            obj = str(obj)
        elif conv == "a":
            obj = ascii(obj)
        else:
            raise Bad("Unknown conversion specifier")
    if "{" in spec or "}" in spec:
        spec = build(spec, ctx, depth - 1)
    if too_wide(spec):
        raise Bad("wider than stogger allows")
    return format(obj, spec)


def render(template, ctx):
    out = []
    try:
        parts = list(_string.formatter_parser(template))
    except ValueError as e:
        return {"syntax": str(e)}
    for literal, name, spec, conv in parts:
        out.append(literal)
        if name is None:
            continue
        try:
            out.append(field(name, spec, conv, ctx, 2))
        except Skip as e:
            return {"skip": str(e)}
        except Missing:
            out.append("<missing>")
        except KeyError:
            out.append("<missing>")
        except (ValueError, TypeError, OverflowError, IndexError, Bad, MemoryError):
            out.append("<bad format>")
    return {"out": "".join(out)}


for line in sys.stdin:
    req = json.loads(line)
    fields = {k: value(v) for k, v in req["fields"].items()}
    ctx = (fields, req.get("scope"), req.get("func"))
    sys.stdout.write(json.dumps(render(req["template"], ctx)) + "\n")
    sys.stdout.flush()
