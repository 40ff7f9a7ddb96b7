#!/bin/sh
# make mutants: is the test suite able to fail? For each mutant listed in
# tests/mutants.txt (a small deliberate bug: file, original snippet,
# replacement), a scratch copy of the repository gets the change, the test
# suite runs there, and the mutant is "caught" when the suite fails,
# "SURVIVED" when it passes. One line per mutant, then a summary; exit 1 if
# any mutant survived or could not be applied or built.
#
# The repository is never modified: its tracked and untracked-but-not-ignored
# files (git ls-files) are copied to a scratch directory, built once there
# (BUILD=build-mutant), and checked unmutated first (a failing baseline would
# make every mutant look caught). Each mutant is then applied, rebuilt
# (incrementally: the changed file and the links) and tested, and the file
# restored. A snippet that is not found exactly once is an error.
#
# Environment:
#   MUTANT_TESTS   empty (default): the whole `make test-run`; "auto": each
#                  mutant's `tests` line; otherwise a list of tests (test_x,
#                  e2e:x) run for every mutant
#   MUTANT_ONLY    names of the mutants to run (default: all)
#   MUTANT_LIST    the list (default tests/mutants.txt)
#   MUTANT_DIR     the scratch directory (default: a new one under /tmp,
#                  removed at the end unless MUTANT_KEEP=1)
#   MUTANT_BASELINE=0  skip the unmutated run
#   MUTANT_JOBS    make -j for the builds (default 2)
set -u
[ -f tests/mutants.sh ] || { echo "mutants: run from the repository root"; exit 2; }
ROOT=$(pwd)
LIST=${MUTANT_LIST:-tests/mutants.txt}
case $LIST in /*) ;; *) LIST="$ROOT/$LIST" ;; esac
JOBS=${MUTANT_JOBS:-2}
MB=build-mutant
if [ -n "${MUTANT_DIR:-}" ]; then
    S=$MUTANT_DIR
    mkdir -p "$S" || exit 2
else
    S=$(mktemp -d "${TMPDIR:-/tmp}/ph-mutants.XXXXXX") || exit 2
fi
TOOL=$(mktemp "${TMPDIR:-/tmp}/ph-mutants-tool.XXXXXX.py") || exit 2
cleanup() {
    rm -f "$TOOL"
    if [ "${MUTANT_KEEP:-0}" = 1 ] || [ -n "${MUTANT_DIR:-}" ]; then
        echo "mutants: scratch copy kept in $S (logs in $S/mutant-logs)"
    else
        rm -rf "$S"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The list parser and the patcher.
cat >"$TOOL" <<'PY'
import os, sys

def parse(path):
    muts, cur, lineno = [], None, 0
    for raw in open(path, encoding="utf-8"):
        lineno += 1
        line = raw.rstrip("\n")
        if not line.strip():
            cur = None
            continue
        if line.startswith("#"):
            continue
        key, _, val = line.partition(" ")
        if key == "mutant":
            cur = {"name": val.strip(), "file": None, "from": [], "to": [], "tests": "",
                   "line": lineno}
            muts.append(cur)
        elif cur is None:
            sys.exit(f"{path}:{lineno}: '{key}' outside a mutant block")
        elif key == "file":
            cur["file"] = val.strip()
        elif key in ("from", "to"):
            cur[key].append(val)
        elif key == "tests":
            cur["tests"] = val.strip()
        else:
            sys.exit(f"{path}:{lineno}: unknown key '{key}'")
    names = set()
    for m in muts:
        where = f"{path}:{m['line']}"
        if not m["name"] or " " in m["name"]:
            sys.exit(f"{where}: a mutant needs a one-word name")
        if m["name"] in names:
            sys.exit(f"{where}: mutant {m['name']} listed twice")
        names.add(m["name"])
        if not m["file"] or not m["from"] or not m["to"]:
            sys.exit(f"{where}: mutant {m['name']} needs file, from and to")
        m["from"] = "\n".join(m["from"])
        m["to"] = "\n".join(m["to"])
        if m["from"] == m["to"]:
            sys.exit(f"{where}: mutant {m['name']} changes nothing")
    return muts

def find(muts, name):
    for m in muts:
        if m["name"] == name:
            return m
    sys.exit(f"no mutant named {name}")

def check(m, root):
    path = os.path.join(root, m["file"])
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as e:
        sys.exit(f"mutant {m['name']}: {e}")
    n = text.count(m["from"])
    if n != 1:
        sys.exit(f"mutant {m['name']}: the snippet occurs {n} times in {m['file']}, "
                 f"not exactly once:\n{m['from']}")
    return path, text

cmd, lst = sys.argv[1], parse(sys.argv[2])
if cmd == "check":          # check LIST ROOT: every snippet once
    for m in lst:
        check(m, sys.argv[3])
elif cmd == "names":
    print(" ".join(m["name"] for m in lst))
elif cmd == "tests":        # tests LIST NAME
    print(find(lst, sys.argv[3])["tests"])
elif cmd == "file":         # file LIST NAME
    print(find(lst, sys.argv[3])["file"])
elif cmd == "apply":        # apply LIST NAME ROOT
    m = find(lst, sys.argv[3])
    path, text = check(m, sys.argv[4])
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(m["from"], m["to"], 1))
else:
    sys.exit(f"unknown command {cmd}")
PY

command -v python3 >/dev/null 2>&1 || { echo "mutants: python3 is needed (make deps)"; exit 2; }
mt() { python3 "$TOOL" "$@"; }

# Every snippet must be found exactly once in the repository as it is.
mt check "$LIST" "$ROOT" || exit 2
NAMES=$(mt names "$LIST") || exit 2
if [ -n "${MUTANT_ONLY:-}" ]; then
    for n in $MUTANT_ONLY; do
        case " $NAMES " in *" $n "*) ;; *) echo "mutants: no mutant named $n in $LIST"; exit 2 ;; esac
    done
    NAMES=$MUTANT_ONLY
fi

echo "mutants: copying the repository to $S"
git ls-files -z -c -o --exclude-standard | (cd "$ROOT" && tar --null -T - -cf -) | tar -xf - -C "$S" ||
    { echo "mutants: copying failed"; exit 2; }
# The pinned node-lightning packages (ignored by git) save an npm ci per copy.
[ -d tests/interop/node_modules ] && cp -a tests/interop/node_modules "$S/tests/interop/"
mkdir -p "$S/mutant-logs"
L="$S/mutant-logs"

build() { make -C "$S" --no-print-directory -j"$JOBS" BUILD=$MB tests-build >"$1" 2>&1; }
suite() { # LOG TESTS...
    _log=$1
    shift
    make -C "$S" --no-print-directory BUILD=$MB test-run TESTS="$*" >"$_log" 2>&1
}

echo "mutants: building the unmutated copy"
build "$L/baseline-build.log" || { tail -n 30 "$L/baseline-build.log"; echo "mutants: the unmutated copy does not build"; exit 2; }
if [ "${MUTANT_BASELINE:-1}" != 0 ]; then
    case ${MUTANT_TESTS:-} in
    auto) base_tests=$(for n in $NAMES; do mt tests "$LIST" "$n"; done | tr ' ' '\n' | sort -u | tr '\n' ' ') ;;
    *) base_tests=${MUTANT_TESTS:-} ;;
    esac
    echo "mutants: running the tests on the unmutated copy (${base_tests:-the whole suite})"
    if ! suite "$L/baseline.log" $base_tests; then
        grep -E '^(!!|failed:|tests:)' "$L/baseline.log"
        echo "mutants: the unmutated suite fails: every mutant would look caught"
        exit 2
    fi
    grep '^tests:' "$L/baseline.log"
fi

caught=0
survived=0
broken=0
survivors=""
for n in $NAMES; do
    f=$(mt file "$LIST" "$n")
    cp "$S/$f" "$L/$n.orig"
    case ${MUTANT_TESTS:-} in
    auto) tests=$(mt tests "$LIST" "$n") ;;
    *) tests=${MUTANT_TESTS:-} ;;
    esac
    if ! mt apply "$LIST" "$n" "$S"; then
        echo "ERROR    $n: could not be applied"
        broken=$((broken + 1))
        survivors="$survivors $n(not-applied)"
        continue
    fi
    if ! build "$L/$n-build.log"; then
        echo "ERROR    $n: the mutant does not build (see $L/$n-build.log): fix its replacement"
        broken=$((broken + 1))
        survivors="$survivors $n(does-not-build)"
    elif suite "$L/$n.log" $tests; then
        echo "SURVIVED $n ($f): $(grep '^tests:' "$L/$n.log")"
        survived=$((survived + 1))
        survivors="$survivors $n"
    else
        by=$(sed -n 's/^failed: *//p' "$L/$n.log" | tail -n 1)
        echo "caught   $n ($f) by: ${by:-$(tail -n 1 "$L/$n.log")}"
        caught=$((caught + 1))
    fi
    # Restore (a fresh mtime, so the next build recompiles it).
    cp "$L/$n.orig" "$S/$f"
done

echo "mutants: $caught caught, $survived survived, $broken broken"
[ -z "$survivors" ] || echo "not caught:$survivors"
[ "$survived" -eq 0 ] && [ "$broken" -eq 0 ]
