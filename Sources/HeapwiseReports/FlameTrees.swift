// Flame graph trees for the HTML report: the call paths of FunctionStacks merged into one trie
// (and one for the inverted view, leaf first), built once; each view (live at exit, at the peak,
// at a marker, allocated, temporary) only sums its weights into the trie's nodes and emits the
// nodes at or above a share of its total. 100k distinct stacks cost one pass per view.
import HeapwiseAnalysis

struct FlameTrie {
  /// Node 0 is the root; a node's parent always has a smaller index.
  private(set) var parent: [Int32] = [-1]
  private(set) var function: [Int32] = [-1]
  private(set) var depth: [Int32] = [0]
  /// The node each stack ends at.
  private(set) var leaf: [Int32] = []
  private var children: [[Int32]] = [[]]

  init(_ stacks: FunctionStacks, inverted: Bool) {
    var index: [Int64: Int32] = [:]
    leaf.reserveCapacity(stacks.stacks.count)
    for s in stacks.stacks {
      var node: Int32 = 0
      let path = inverted ? Array(s.path.reversed()) : s.path
      for f in path {
        let key = Int64(node) << 32 | Int64(f)
        if let known = index[key] {
          node = known
          continue
        }
        let n = Int32(parent.count)
        parent.append(node)
        function.append(f)
        depth.append(depth[Int(node)] + 1)
        children.append([])
        children[Int(node)].append(n)
        index[key] = n
        node = n
      }
      leaf.append(node)
    }
  }

  /// The pruned tree in preorder, children largest first, for weights `size` (and `count`) per
  /// stack in FunctionStacks order. Nodes under `minimum` are left out with their subtrees; their
  /// sizes are added up in `prunedSize`.
  func tree(size: [UInt64], count: [UInt64], minimum: UInt64) -> HTMLReport.Tree {
    var sizes = [UInt64](repeating: 0, count: parent.count)
    var counts = [UInt64](repeating: 0, count: parent.count)
    for (i, l) in leaf.enumerated() {
      sizes[Int(l)] &+= size[i]
      counts[Int(l)] &+= count[i]
    }
    for n in stride(from: parent.count - 1, to: 0, by: -1) {
      let p = Int(parent[n])
      sizes[p] &+= sizes[n]
      counts[p] &+= counts[n]
    }
    var out = HTMLReport.Tree(total: sizes[0], count: counts[0])
    guard sizes[0] > 0 else { return out }
    var stack: [Int32] = [0]
    while let n = stack.popLast() {
      let i = Int(n)
      out.f.append(function[i])
      out.d.append(depth[i])
      out.v.append(sizes[i])
      out.c.append(counts[i])
      var kept: [Int32] = []
      for c in children[i] where sizes[Int(c)] > 0 {
        if sizes[Int(c)] >= minimum {
          kept.append(c)
        } else {
          out.prunedSize &+= sizes[Int(c)]
          out.prunedNodes += 1
        }
      }
      // Pushed smallest first, so the largest child is emitted first.
      kept.sort { sizes[Int($0)] != sizes[Int($1)] ? sizes[Int($0)] < sizes[Int($1)] : $0 > $1 }
      stack += kept
    }
    return out
  }
}
