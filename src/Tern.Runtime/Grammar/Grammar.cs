namespace Tern.Runtime.Grammar;

internal enum ElementKind : byte
{
    End,
    Rule,
    Chars,
}

/// <summary>One element of an alternative: a rule reference, a character set, or the alternative's end.</summary>
internal readonly record struct Element(ElementKind Kind, int Rule, CharSet? Set);

/// <summary>
/// A compiled grammar (llama.cpp's GBNF): every rule's alternatives laid out in one flat element array, each
/// alternative ending in an End element. Parse one with <see cref="Parse"/>; build one from a JSON schema with
/// <see cref="JsonSchemaGrammar"/>. Immutable and shareable between threads; a <see cref="GrammarMatcher"/> follows it.
/// </summary>
public sealed class Grammar
{
    /// <summary>Most leading rules that one expansion may descend through (a bound for hostile grammars).</summary>
    internal const int MaxLeadingChain = 1000;

    internal Grammar(string source, Element[] elements, int[][] alternatives, string[] ruleNames, bool[] generated, int root)
    {
        Source = source;
        Elements = elements;
        Alternatives = alternatives;
        RuleNames = ruleNames;
        Root = root;
        CheckLeftRecursion(generated);
    }

    /// <summary>The GBNF text it was parsed from.</summary>
    public string Source { get; }

    internal Element[] Elements { get; }

    /// <summary>Per rule, the start index of each alternative in <see cref="Elements"/>.</summary>
    internal int[][] Alternatives { get; }

    internal string[] RuleNames { get; }

    internal int Root { get; }

    /// <summary>Parses GBNF text; errors (with line and column) are <see cref="GrammarException"/>s.</summary>
    public static Grammar Parse(string gbnf, string root = "root") => GbnfParser.Parse(gbnf, root);

    public override string ToString() => Source;

    /// <summary>
    /// Refuses a rule that can reach itself without consuming a character (left recursion: the matcher would expand
    /// it forever), naming it, and bounds how many rules one expansion descends through.
    /// </summary>
    private void CheckLeftRecursion(bool[] generated)
    {
        int n = Alternatives.Length;
        var nullable = new bool[n];
        for (bool changed = true; changed;)
        {
            changed = false;
            for (int r = 0; r < n; r++)
            {
                if (nullable[r])
                    continue;
                foreach (int start in Alternatives[r])
                {
                    int i = start;
                    while (Elements[i].Kind == ElementKind.Rule && nullable[Elements[i].Rule])
                        i++;
                    if (Elements[i].Kind == ElementKind.End)
                    {
                        nullable[r] = changed = true;
                        break;
                    }
                }
            }
        }

        // leading references of each rule: refs reachable before any character is consumed
        var leading = new List<int>[n];
        for (int r = 0; r < n; r++)
        {
            leading[r] = [];
            foreach (int start in Alternatives[r])
            {
                for (int i = start; Elements[i].Kind == ElementKind.Rule; i++)
                {
                    leading[r].Add(Elements[i].Rule);
                    if (!nullable[Elements[i].Rule])
                        break;
                }
            }
        }

        var state = new byte[n]; // 0 unvisited, 1 on the path, 2 done
        var height = new int[n];
        var path = new List<int>();
        for (int r = 0; r < n; r++)
        {
            if (state[r] == 0)
                Visit(r);
        }

        void Visit(int root)
        {
            // iterative DFS (a generated grammar may chain thousands of rules)
            var work = new Stack<(int Rule, int Next)>();
            work.Push((root, 0));
            state[root] = 1;
            path.Add(root);
            while (work.Count > 0)
            {
                var (rule, next) = work.Pop();
                if (next < leading[rule].Count)
                {
                    work.Push((rule, next + 1));
                    int child = leading[rule][next];
                    if (state[child] == 1)
                        throw new GrammarException($"rule '{NameFor(path[path.IndexOf(child)..], generated)}' is left-recursive: it can reach itself before matching any character");
                    if (state[child] == 0)
                    {
                        state[child] = 1;
                        path.Add(child);
                        work.Push((child, 0));
                    }
                    else
                    {
                        height[rule] = Math.Max(height[rule], height[child] + 1);
                    }

                    continue;
                }

                state[rule] = 2;
                path.RemoveAt(path.Count - 1);
                if (height[rule] > MaxLeadingChain)
                    throw new GrammarException($"rule '{RuleNames[rule]}' descends through more than {MaxLeadingChain} rules before matching a character");
                if (work.Count > 0)
                {
                    var parent = work.Peek().Rule;
                    height[parent] = Math.Max(height[parent], height[rule] + 1);
                }
            }
        }
    }

    /// <summary>The first rule of a cycle the author wrote (not one generated for a group or repetition).</summary>
    private string NameFor(List<int> cycle, bool[] generated) =>
        RuleNames[cycle.FirstOrDefault(r => !generated[r], cycle[0])];
}
