"""The library's files call downward only (docs/ARCHITECTURE.md): in the graph of which src/ file
calls a function another defines, no circle.  (src/mpi/ is a separate library on top.)"""
import collections
import glob
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def graph():
    files = sorted(f for f in glob.glob(os.path.join(ROOT, "src", "**", "*.c"), recursive=True)
                   if os.sep + "mpi" + os.sep not in f)
    text = {f: re.sub(r"/\*.*?\*/", "", open(f).read(), flags=re.S) for f in files}
    defined = {}
    for f, s in text.items():
        for m in re.finditer(r"^[A-Za-z_][\w \*]*?\b(adaopt_\w+)\s*\(([^;{]*)\)\s*\{", s, re.M):
            defined.setdefault(m.group(1), f)
    edges = collections.defaultdict(set)
    for f, s in text.items():
        for name in set(re.findall(r"\b(adaopt_\w+)\s*\(", s)):
            g = defined.get(name)
            if g is not None and g != f:
                edges[f].add(g)
    return files, edges, len(defined)


def circles(files, edges):
    """Tarjan's strongly connected components of more than one file."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(os.path.relpath(c, ROOT) for c in comp))

    sys.setrecursionlimit(10000)
    for f in files:
        if f not in index:
            visit(f)
    return out


def main():
    files, edges, n_defined = graph()
    assert len(files) > 20 and n_defined > 150, (len(files), n_defined)  # it did read the code
    assert sum(len(e) for e in edges.values()) > 40
    found = circles(files, edges)
    assert not found, "files that call each other (directly or around a circle): %s" % found
    print("call_graph: %d files, %d functions, %d arrows, no circle"
          % (len(files), n_defined, sum(len(e) for e in edges.values())))


if __name__ == "__main__":
    main()
