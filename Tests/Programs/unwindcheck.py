# Python for the unwinder's check mode: the interpreter's C stack through its eval loop, calls,
# recursion, exceptions, JSON, regular expressions and threads (Tests/RecorderTests/UnwindCheckTests).
import json, threading, re, collections
def rec(n):
    if n == 0:
        return [dict(a=i, b=str(i)) for i in range(20)]
    return rec(n - 1) + [n]
class Node:
    def __init__(self, v): self.v = v; self.kids = []
def build(d):
    n = Node(d)
    if d: n.kids = [build(d - 1) for _ in range(2)]
    return n
def work():
    out = []
    for i in range(3000):
        d = {"id": i, "name": "u%d" % i, "tags": ["a%d" % (i % 7)]}
        out.append(json.loads(json.dumps(d)))
        try:
            raise ValueError("x" * (i % 50))
        except ValueError as e:
            out.append(str(e))
    for d in range(1, 60, 7): rec(d)
    build(10)
    collections.Counter(re.findall(r"\w+", " ".join(map(str, range(5000)))))
    return len(out)
ts = [threading.Thread(target=work) for _ in range(3)]
for t in ts: t.start()
work()
for t in ts: t.join()
print("ok")
