#!/usr/bin/env python3
"""Checks every BOLT quote in the code against the spec text (make check-bolt).

A quote is a C block comment, or a paragraph of one, that starts with
"BOLT #N:" followed by text copied from BOLT #N:

    /* BOLT #1: ... */

    /* Why the code does this.
     *
     * BOLT #7: a requirement, spread over
     * several lines */

The quote runs to the end of the comment or to its first blank line. Comment
markers (a leading "*" on continuation lines) and every run of whitespace,
newlines included, count as one space, in the quote and in the spec alike;
everything else, Markdown included (backticks, "-" list markers, bold), must be
exactly as in the spec: the quote must occur in the BOLT's file, starting and
ending at word boundaries. A comment that names a BOLT any other way ("BOLT 7",
"see BOLT #7") is a plain reference and is not checked; "BOLT #N:" anywhere but
at the start of a comment line is an error (a quote that would go unchecked).

The spec files are tests/vectors/bolts/NN-*.md, committed verbatim (never
fetched here): their sha256 must match tests/vectors/bolts/SHA256SUMS and
tests/vectors/bolts/COMMIT must be the commit the wire table is pinned to
(tests/vectors/bolt_message_layouts.json), or the check fails before any quote
is looked at.

Usage: tool/check_bolt.py [--root DIR] [--bolts DIR] [FILE...]
  --root DIR   the tree to check (default: this script's repository); without
               FILEs, its lib/**/*.c, lib/**/*.h, tool/*.c and tool/*.h
  --bolts DIR  the spec files (default: ROOT/tests/vectors/bolts)
  FILE...      check only these files (relative to the current directory)
Exit status: 0 when every quote is found, 1 otherwise (one line per problem),
2 on bad usage.
"""
import hashlib
import json
import os
import re
import sys

MIN_WORDS = 4  # shorter quotes ("MUST fail") would match almost anywhere
QUOTE_START = re.compile(r"BOLT #(\d+):")
SPACES = re.compile(r"\s+")


def normalize(text):
    return SPACES.sub(" ", text).strip()


def comments(src):
    """(line, text) of each block comment of C source src; string and
    character literals and // comments are skipped."""
    out = []
    i, n, line = 0, len(src), 1
    while i < n:
        c = src[i]
        if c == "\n":
            line += 1
            i += 1
        elif src.startswith("/*", i):
            end = src.find("*/", i + 2)
            if end < 0:
                end = n
            out.append((line, src[i + 2:end]))
            line += src.count("\n", i, end)
            i = end + 2
        elif src.startswith("//", i):
            end = src.find("\n", i)
            i = n if end < 0 else end
        elif c in "\"'":
            j = i + 1
            while j < n and src[j] != c and src[j] != "\n":
                j += 2 if src[j] == "\\" else 1
            line += src.count("\n", i, j)
            i = j + 1
        else:
            i += 1
    return out


def quotes(path):
    """(line, bolt, raw quote) of each quote in the C file at path; the
    quote is None where "BOLT #N:" does not start a comment line."""
    with open(path, encoding="utf-8") as f:
        src = f.read()
    found = []
    for first, body in comments(src):
        lines = body.split("\n")
        # continuation lines: drop the indentation and one leading "*"
        cleaned = [lines[0].lstrip("*")]
        for ln in lines[1:]:
            s = ln.lstrip()
            if s.startswith("*") and (len(s) == 1 or s[1].isspace()):
                s = s[1:]
            cleaned.append(s)
        k = 0
        while k < len(cleaned):
            m = QUOTE_START.match(cleaned[k].strip())
            if not m:
                # "BOLT #N:" inside a line would be a quote nobody checks
                for late in QUOTE_START.finditer(cleaned[k]):
                    found.append((first + k, int(late.group(1)), None))
                k += 1
                continue
            start = k
            text = [cleaned[k].strip()[m.end():]]
            k += 1
            while k < len(cleaned) and cleaned[k].strip():
                text.append(cleaned[k])
                k += 1
            found.append((first + start, int(m.group(1)), "\n".join(text)))
    return found


def occurs(quote, spec):
    """Whether quote is in spec, beginning and ending at word boundaries."""
    at = spec.find(quote)
    while at >= 0:
        before = spec[at - 1] if at > 0 else " "
        after = spec[at + len(quote)] if at + len(quote) < len(spec) else " "
        if not (before.isalnum() and quote[0].isalnum()) and \
           not (after.isalnum() and quote[-1].isalnum()):
            return True
        at = spec.find(quote, at + 1)
    return False


def load_specs(root, bolts_dir, problems):
    """{bolt number: normalized text}, after checking COMMIT and SHA256SUMS;
    and the commit."""
    layouts = os.path.join(root, "tests", "vectors", "bolt_message_layouts.json")
    try:
        with open(layouts, encoding="utf-8") as f:
            pinned = json.load(f)["source"]["commit"]
    except (OSError, ValueError, KeyError) as e:
        problems.append("%s: no pinned commit (source.commit): %s" % (layouts, e))
        return {}, "?"
    commit_file = os.path.join(bolts_dir, "COMMIT")
    try:
        with open(commit_file, encoding="utf-8") as f:
            commit = f.read().strip()
    except OSError as e:
        problems.append("%s: %s" % (commit_file, e))
        return {}, pinned
    if commit != pinned:
        problems.append("%s: spec text is from %s, but the wire table is pinned to %s "
                        "(rerun tool/fetch_bolts.sh)" % (commit_file, commit, pinned))
    sums_file = os.path.join(bolts_dir, "SHA256SUMS")
    sums = {}
    try:
        with open(sums_file, encoding="utf-8") as f:
            for ln in f:
                if ln.strip():
                    digest, name = ln.split(None, 1)
                    sums[name.strip().lstrip("*")] = digest.lower()
    except (OSError, ValueError) as e:
        problems.append("%s: %s" % (sums_file, e))
        return {}, commit
    specs = {}
    for name in sorted(os.listdir(bolts_dir)):
        m = re.match(r"(\d\d)-.*\.md$", name)
        if not m:
            continue
        path = os.path.join(bolts_dir, name)
        with open(path, "rb") as f:
            data = f.read()
        if name not in sums:
            problems.append("%s: not listed in %s" % (path, sums_file))
            continue
        if hashlib.sha256(data).hexdigest() != sums[name]:
            problems.append("%s: sha256 differs from %s: the spec text was altered"
                            % (path, sums_file))
            continue
        specs[int(m.group(1))] = normalize(data.decode("utf-8"))
    for name in sorted(sums):
        if not os.path.exists(os.path.join(bolts_dir, name)):
            problems.append("%s: listed in %s but missing" % (name, sums_file))
    return specs, commit


def sources(root):
    out = []
    for base, dirs, files in os.walk(os.path.join(root, "lib")):
        dirs.sort()
        out += [os.path.join(base, f) for f in sorted(files) if f.endswith((".c", ".h"))]
    tool = os.path.join(root, "tool")
    if os.path.isdir(tool):
        out += [os.path.join(tool, f) for f in sorted(os.listdir(tool))
                if f.endswith((".c", ".h"))]
    return out


def main(argv):
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    root, bolts_dir, files = here, None, []
    args = list(argv)
    while args:
        a = args.pop(0)
        if a in ("--root", "--bolts") and args:
            if a == "--root":
                root = args.pop(0)
            else:
                bolts_dir = args.pop(0)
        elif a in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        elif a.startswith("-"):
            sys.stderr.write("check-bolt: unknown option %s (see --help)\n" % a)
            return 2
        else:
            files.append(a)
    bolts_dir = bolts_dir or os.path.join(root, "tests", "vectors", "bolts")
    problems = []
    specs, commit = load_specs(root, bolts_dir, problems)
    if problems:
        for p in problems:
            print("check-bolt: " + p)
        print("check-bolt: FAILED: the spec text in %s cannot be trusted" % bolts_dir)
        return 1
    paths = files or sources(root)
    total, with_quotes = 0, 0
    for path in paths:
        name = os.path.relpath(path, root) if not files else path
        try:
            found = quotes(path)
        except (OSError, UnicodeDecodeError) as e:
            problems.append("%s: cannot read: %s" % (name, e))
            continue
        total += len(found)
        with_quotes += 1 if found else 0
        for line, bolt, raw in found:
            if raw is None:
                problems.append("%s:%d: BOLT #%d: a quote must start its comment line "
                                "(or, as a plain reference, drop the '#N:' form)"
                                % (name, line, bolt))
                continue
            quote = normalize(raw)
            words = quote.split(" ")
            head = " ".join(words[:8]) + ("..." if len(words) > 8 else "")
            if bolt not in specs:
                problems.append('%s:%d: BOLT #%d has no spec file in %s: "%s"'
                                % (name, line, bolt, bolts_dir, head))
            elif len(words) < MIN_WORDS or not quote:
                problems.append('%s:%d: BOLT #%d quote too short (under %d words): "%s"'
                                % (name, line, bolt, MIN_WORDS, quote))
            elif not occurs(quote, specs[bolt]):
                problems.append('%s:%d: BOLT #%d quote not found: "%s"'
                                % (name, line, bolt, head))
    if total == 0:
        problems.append("no BOLT quotes found in %d files: is the scanner broken?" % len(paths))
    for p in problems:
        print(p)
    if problems:
        print("check-bolt: FAILED: %d problem(s) in %d quotes" % (len(problems), total))
        return 1
    print("check-bolt: %d quotes in %d files verified against BOLTs %s"
          % (total, with_quotes, commit[:12]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
