// Flame graph trees for the HTML report, pruned while they are built: the stacks under a node
// are grouped by their next frame, and a group under the minimum share becomes pruned weight
// instead of a subtree. The work is the stacks times the depth at which their groups fall under
// the minimum, not the stacks times their full depth: 100k distinct stacks stay cheap.
import HeapwiseAnalysis

struct FlameBuilder {
  let paths: [[Int32]]

  init(_ stacks: FunctionStacks) { paths = stacks.stacks.map(\.path) }

  /// The tree in preorder, children largest first, for weights `size` and `count` per stack in
  /// FunctionStacks order; `inverted` merges stacks from the leaf. Subtrees under `minimum` are
  /// left out, their sizes added up in `prunedSize`.
  func tree(size: [UInt64], count: [UInt64], inverted: Bool, minimum: UInt64) -> HTMLReport.Tree {
    var all: [Int] = []
    var total: UInt64 = 0, blocks: UInt64 = 0
    for i in paths.indices where size[i] > 0 {
      all.append(i)
      total &+= size[i]
      blocks &+= count[i]
    }
    var out = HTMLReport.Tree(total: total, count: blocks)
    guard total > 0 else { return out }
    struct Item { var stacks: [Int]; var depth: Int32; var function: Int32; var size: UInt64 }
    var work = [Item(stacks: all, depth: 0, function: -1, size: total)]
    while let item = work.popLast() {
      var c: UInt64 = 0
      for i in item.stacks { c &+= count[i] }
      out.f.append(item.function)
      out.d.append(item.depth)
      out.v.append(item.size)
      out.c.append(c)
      let d = Int(item.depth)
      var groups: [Int32: Int] = [:]
      var children: [Item] = []
      for i in item.stacks {
        let p = paths[i]
        guard p.count > d else { continue }
        let f = inverted ? p[p.count - 1 - d] : p[d]
        if let g = groups[f] {
          children[g].stacks.append(i)
          children[g].size &+= size[i]
        } else {
          groups[f] = children.count
          children.append(Item(stacks: [i], depth: item.depth + 1, function: f, size: size[i]))
        }
      }
      var kept: [Item] = []
      for child in children {
        if child.size >= minimum {
          kept.append(child)
        } else {
          out.prunedSize &+= child.size
          out.prunedNodes += 1
        }
      }
      // Pushed smallest first, so the largest child comes out first.
      kept.sort { $0.size != $1.size ? $0.size < $1.size : $0.function > $1.function }
      work += kept
    }
    return out
  }
}
