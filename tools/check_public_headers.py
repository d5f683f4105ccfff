#!/usr/bin/env python3
"""Fails when a public header names an internal or test-only symbol.

A public header is one in `hdrs` of a cc_library visible to
//visibility:public (asked of `bazel query`) and outside an `internal/`
directory (a public target may carry internal headers, as Abseil's do), or
each file given as an argument. What a user can reach there must be only what a user calls, so
the check fails on:
  - any name containing `ForTesting`;
  - (what an `*internal` namespace holds is not checked: a template
    library's helpers must be in the header its templates are in, as in
    Abseil's `strings_internal`; users are not meant to call them);
  - an internal name (`foo_internal::X`, `internal::X`) in a declaration a
    user reaches: at namespace scope, or in a public section of a class.
    Function bodies, member initialisers, and private or protected sections
    may use internals, as Abseil's headers do.
"""
import re
import subprocess
import sys

# Headers allowed to break the rule, with why. sync/synchronize.h: Lock and
# RLock derive from sync_internal::LockBase (to be made a private member).
SKIP = {"sync/synchronize.h"}

QUERY = ('labels(hdrs, attr(visibility, "//visibility:public", '
         'kind("cc_library", //...)))')
INTERNAL_NAME = re.compile(r"\b\w*internal::")
INTERNAL_NAMESPACE = re.compile(r"^namespace\s+[\w:]*internal$")
FORWARD_DECLARATION = re.compile(
    r"^(template\s*<[^<>]*>\s*)?(class|struct)\s+\w+$")
ACCESS_LABEL = re.compile(r"^\s*(public|private|protected)\s*:(?!:)")
# Where a constructor's signature ends and its initialisers begin.
INITIALISERS = re.compile(r"\)\s*(const\s*)?(noexcept\s*)?:(?!:)")


def public_headers():
    out = subprocess.run(["bazel", "query", "--output=label", QUERY],
                         check=True, capture_output=True, text=True).stdout
    for label in out.split():
        if label.endswith(".h"):
            package, _, name = label.lstrip("/").partition(":")
            path = f"{package}/{name}" if package else name
            if "internal/" not in path:
                yield path


def code(text):
    """`text` without comments, string contents and preprocessor lines,
    keeping its line breaks."""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group().count("\n"), text,
                  flags=re.S)
    lines = []
    for line in text.split("\n"):
        line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
        line = re.sub(r"//.*", "", line)
        lines.append("" if line.lstrip().startswith("#") else line)
    return "\n".join(lines)


def check(text):
    """(line, problem) for each problem in the header `text`."""
    text = code(text)
    problems = [(text[:m.start()].count("\n") + 1, "names a ForTesting symbol")
                for m in re.finditer(r"\w*ForTesting\w*", text)]
    # Each scope: [kind, visible]; kind is "namespace", "internal" (an
    # internal namespace), "class" or "body".
    scopes = []
    start = 0
    for m in re.finditer(r"[{};]", text):
        piece = text[start:m.start()]
        line = text[:start + len(piece) - len(piece.lstrip())].count("\n") + 1
        start = m.end()
        label = ACCESS_LABEL.match(piece)
        if label and scopes and scopes[-1][0] == "class":
            scopes[-1][1] = label.group(1) == "public"
            piece = piece[label.end():]
        statement = " ".join(piece.split())
        kinds = [kind for kind, _ in scopes]
        in_body = "body" in kinds
        hidden = any(kind == "class" and not visible
                     for kind, visible in scopes)
        if m.group() == "}":
            if scopes:
                scopes.pop()
            continue
        if in_body:
            if m.group() == "{":
                scopes.append(["body", False])
            continue
        if m.group() == "{" and INTERNAL_NAMESPACE.match(statement):
            scopes.append(["internal", False])
            continue
        if m.group() == "{" and re.match(r"^(inline )?namespace\b", statement):
            scopes.append(["namespace", True])
            continue
        if "internal" in kinds:
            pass  # a template library's helpers, as Abseil's headers keep
        elif not hidden:
            signature = INITIALISERS.split(statement)[0]
            if INTERNAL_NAME.search(signature):
                problems.append((line, "a declaration users reach names an "
                                 "internal: " + signature[:80]))
        if m.group() == "{":
            head = re.sub(r"^template\s*<.*?>\s*", "", statement)
            if re.match(r"^(class|struct|union|enum)\b", head) and "(" not in head:
                scopes.append(["class", not head.startswith("class")])
            else:
                scopes.append(["body", False])
    return problems


def main(argv):
    headers = argv[1:] or sorted(set(public_headers()))
    checked = [h for h in headers if h not in SKIP]
    failed = False
    for path in checked:
        with open(path, encoding="utf-8") as f:
            for line, problem in check(f.read()):
                print(f"{path}:{line}: {problem}", file=sys.stderr)
                failed = True
    if failed:
        print("check_public_headers: move internals to an internal/ header, "
              "or into a private section or a function body",
              file=sys.stderr)
        return 1
    print(f"check_public_headers: {len(checked)} public headers are clean "
          f"({len(headers) - len(checked)} skipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
