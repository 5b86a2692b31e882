using System.Text;
using System.Text.RegularExpressions;

namespace Tern.Tools;

/// <summary>
/// The rules of one <c>.gitignore</c> file, in the common subset of git's syntax: blank lines and <c>#</c> comments
/// are skipped, <c>!</c> re-includes, a trailing <c>/</c> matches directories only, a <c>/</c> at the start or in the
/// middle anchors the pattern to the file's directory (otherwise it matches a name at any depth below it), <c>*</c>
/// and <c>?</c> never match '/', <c>[a-z]</c>/<c>[!a-z]</c> are classes, <c>**/</c>, <c>/**/</c> and <c>/**</c> span
/// directories, and a backslash makes the next character literal (<c>\#</c>, <c>\!</c>, a kept trailing space).
/// Matching is linear-time (non-backtracking), so a hostile file cannot stall a walk.
/// </summary>
internal sealed class GitIgnore
{
    /// <summary>Longest .gitignore file read; a larger one is ignored as a whole.</summary>
    public const int MaxFileBytes = 256 * 1024;

    private readonly List<Rule> _rules;

    private GitIgnore(List<Rule> rules) => _rules = rules;

    /// <summary>The rules of a .gitignore text; lines that do not form a valid pattern are skipped, as git does.</summary>
    public static GitIgnore Parse(string text)
    {
        var rules = new List<Rule>();
        foreach (string raw in text.Split('\n'))
        {
            if (Rule.TryParse(raw.TrimEnd('\r')) is { } rule)
            {
                rules.Add(rule);
            }
        }

        return new GitIgnore(rules);
    }

    /// <summary>
    /// Whether the rules decide about <paramref name="relativePath"/> ('/'-separated, relative to this file's
    /// directory): true (ignored), false (re-included by a <c>!</c> rule) or null (no rule matches). The last
    /// matching rule wins.
    /// </summary>
    public bool? Decide(string relativePath, bool isDirectory)
    {
        string name = relativePath[(relativePath.LastIndexOf('/') + 1)..];
        for (int i = _rules.Count - 1; i >= 0; i--)
        {
            var rule = _rules[i];
            if ((!rule.DirectoryOnly || isDirectory) && rule.Regex.IsMatch(rule.Anchored ? relativePath : name))
            {
                return !rule.Negated;
            }
        }

        return null;
    }

    private sealed record Rule(Regex Regex, bool Negated, bool DirectoryOnly, bool Anchored)
    {
        public static Rule? TryParse(string line)
        {
            string pattern = TrimUnescapedTrailingSpaces(line);
            if (pattern.Length == 0 || pattern[0] == '#')
            {
                return null;
            }

            bool negated = pattern[0] == '!';
            if (negated)
            {
                pattern = pattern[1..];
            }

            bool directoryOnly = pattern.EndsWith('/');
            pattern = pattern.TrimEnd('/');
            if (pattern.Length == 0)
            {
                return null;
            }

            bool anchored = pattern.Contains('/', StringComparison.Ordinal);
            pattern = pattern.TrimStart('/');
            try
            {
                var regex = new Regex(Translate(pattern), RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);
                return new Rule(regex, negated, directoryOnly, anchored);
            }
            catch (Exception e) when (e is ArgumentException or ToolSandboxException)
            {
                return null; // e.g. an unclosed class
            }
        }

        private static string TrimUnescapedTrailingSpaces(string line)
        {
            int end = line.Length;
            while (end > 0 && line[end - 1] == ' ' && !(end >= 2 && line[end - 2] == '\\'))
            {
                end--;
            }

            return line[..end];
        }

        private static string Translate(string pattern)
        {
            var regex = new StringBuilder("^");
            for (int i = 0; i < pattern.Length; i++)
            {
                char c = pattern[i];
                bool atSegmentStart = i == 0 || pattern[i - 1] == '/';
                if (c == '*' && i + 1 < pattern.Length && pattern[i + 1] == '*' && atSegmentStart
                    && (i + 2 == pattern.Length || pattern[i + 2] == '/'))
                {
                    if (i + 2 == pattern.Length)
                    {
                        regex.Append(".*"); // trailing "/**": everything inside (or "**" alone: everything)
                    }
                    else
                    {
                        regex.Append("(?:.*/)?"); // "**/": zero or more directories
                        i += 2;
                        continue;
                    }

                    i += 1;
                    continue;
                }

                switch (c)
                {
                    case '*':
                        while (i + 1 < pattern.Length && pattern[i + 1] == '*')
                        {
                            i++; // other runs of asterisks are one asterisk
                        }

                        regex.Append("[^/]*");
                        break;
                    case '?':
                        regex.Append("[^/]");
                        break;
                    case '[':
                        i = Glob.AppendClass(pattern, i, regex);
                        break;
                    case '\\' when i + 1 < pattern.Length:
                        i++;
                        regex.Append(Regex.Escape(pattern[i].ToString()));
                        break;
                    default:
                        regex.Append(Regex.Escape(c.ToString()));
                        break;
                }
            }

            return regex.Append('$').ToString();
        }
    }
}
