namespace Tern.Runtime.Grammar;

/// <summary>
/// The vocabulary's token bytes as a trie (nodes in depth-first order, children by byte), so masking walks each
/// shared prefix once: a prefix the grammar refuses prunes every token that starts with it. Immutable.
/// </summary>
internal sealed class TokenTrie
{
    private readonly int[] _childStart, _childCount, _tokenStart, _tokenCount;
    private readonly byte[] _childByte;
    private readonly int[] _childNode, _tokens;

    public TokenTrie(IReadOnlyList<byte[]> pieces)
    {
        var order = Enumerable.Range(0, pieces.Count).Where(i => pieces[i].Length > 0).ToArray();
        Array.Sort(order, (a, b) => pieces[a].AsSpan().SequenceCompareTo(pieces[b]));
        var childStart = new List<int>();
        var childCount = new List<int>();
        var tokenStart = new List<int>();
        var tokenCount = new List<int>();
        var childByte = new List<byte>();
        var childNode = new List<int>();
        var tokens = new List<int>();

        // Node for order[lo..hi) sharing their first `depth` bytes; iterative to bound the call stack.
        int NewNode()
        {
            childStart.Add(0);
            childCount.Add(0);
            tokenStart.Add(0);
            tokenCount.Add(0);
            return childStart.Count - 1;
        }

        var work = new Stack<(int Node, int Lo, int Hi, int Depth)>();
        work.Push((NewNode(), 0, order.Length, 0));
        while (work.Count > 0)
        {
            var (node, lo, hi, depth) = work.Pop();
            tokenStart[node] = tokens.Count;
            while (lo < hi && pieces[order[lo]].Length == depth)
                tokens.Add(order[lo++]);
            tokenCount[node] = tokens.Count - tokenStart[node];
            childStart[node] = childByte.Count;
            var groups = new List<(int Lo, int Hi)>();
            for (int i = lo; i < hi;)
            {
                byte b = pieces[order[i]][depth];
                int j = i + 1;
                while (j < hi && pieces[order[j]][depth] == b)
                    j++;
                groups.Add((i, j));
                i = j;
            }

            childCount[node] = groups.Count;
            foreach (var (glo, _) in groups)
            {
                childByte.Add(pieces[order[glo]][depth]);
                childNode.Add(-1);
            }

            for (int g = 0; g < groups.Count; g++)
            {
                int child = NewNode();
                childNode[childStart[node] + g] = child;
                work.Push((child, groups[g].Lo, groups[g].Hi, depth + 1));
            }
        }

        (_childStart, _childCount, _tokenStart, _tokenCount) = ([.. childStart], [.. childCount], [.. tokenStart], [.. tokenCount]);
        (_childByte, _childNode, _tokens) = ([.. childByte], [.. childNode], [.. tokens]);
    }

    public int NodeCount => _childStart.Length;

    public const int Root = 0;

    public ReadOnlySpan<byte> ChildBytes(int node) => _childByte.AsSpan(_childStart[node], _childCount[node]);

    public ReadOnlySpan<int> ChildNodes(int node) => _childNode.AsSpan(_childStart[node], _childCount[node]);

    /// <summary>The tokens whose bytes end at this node.</summary>
    public ReadOnlySpan<int> Tokens(int node) => _tokens.AsSpan(_tokenStart[node], _tokenCount[node]);
}
