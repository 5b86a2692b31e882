using System.Text;
using System.Text.RegularExpressions;

namespace Tern.Tools;

/// <summary>
/// A file-name glob for grep: <c>*</c> (any characters but '/'), <c>**</c> (any, '/' included), <c>?</c>,
/// <c>[abc]</c>/<c>[!abc]</c> (<c>[[]</c> for a literal '[') and <c>{a,b}</c>. A glob without '/' matches the file name (<c>*.cs</c>); one with '/'
/// matches the path relative to the workspace root (<c>src/**/*.cs</c>).
/// </summary>
internal sealed class Glob
{
    public const int MaxLength = 1000;

    private readonly Regex _regex;
    private readonly bool _matchesFullPath;

    private Glob(Regex regex, bool matchesFullPath)
    {
        _regex = regex;
        _matchesFullPath = matchesFullPath;
    }

    public static Glob Parse(string glob)
    {
        if (glob.Length > MaxLength)
        {
            throw new ToolSandboxException($"the glob is longer than {MaxLength} characters");
        }

        var pattern = new StringBuilder("^");
        int braces = 0;
        for (int i = 0; i < glob.Length; i++)
        {
            char c = glob[i];
            switch (c)
            {
                case '*' when i + 1 < glob.Length && glob[i + 1] == '*':
                    bool slashAfter = i + 2 < glob.Length && glob[i + 2] == '/';
                    pattern.Append(slashAfter ? "(?:.*/)?" : ".*");
                    i += slashAfter ? 2 : 1;
                    break;
                case '*':
                    pattern.Append("[^/]*");
                    break;
                case '?':
                    pattern.Append("[^/]");
                    break;
                case '[':
                    i = AppendClass(glob, i, pattern);
                    break;
                case '{':
                    braces++;
                    pattern.Append("(?:");
                    break;
                case '}' when braces > 0:
                    braces--;
                    pattern.Append(')');
                    break;
                case ',' when braces > 0:
                    pattern.Append('|');
                    break;
                default:
                    pattern.Append(Regex.Escape(c.ToString()));
                    break;
            }
        }

        if (braces > 0)
        {
            throw new ToolSandboxException($"the glob {Workspace.Quote(glob)} has an unclosed '{{'");
        }

        pattern.Append('$');
        try
        {
            // No nested quantifiers can come out of the translation, but keep matching linear regardless.
            var regex = new Regex(pattern.ToString(), RegexOptions.NonBacktracking | RegexOptions.CultureInvariant);
            return new Glob(regex, glob.Contains('/', StringComparison.Ordinal));
        }
        catch (ArgumentException)
        {
            throw new ToolSandboxException($"the glob {Workspace.Quote(glob)} is not valid");
        }
    }

    /// <summary>
    /// Translates the class that opens at <paramref name="open"/> (<c>[abc]</c>, <c>[a-z]</c>, <c>[!abc]</c> or
    /// <c>[^abc]</c>; a ']' right after the opening is a member) and returns the index of its closing ']'.
    /// </summary>
    internal static int AppendClass(string glob, int open, StringBuilder pattern)
    {
        int close = open + 2 < glob.Length ? glob.IndexOf(']', open + 2) : -1;
        if (close < 0)
        {
            throw new ToolSandboxException($"the glob {Workspace.Quote(glob)} has an unclosed '['; write [[] for a literal '['");
        }

        string set = glob[(open + 1)..close];
        bool negated = set.StartsWith('!') || set.StartsWith('^');
        string body = Regex.Escape(negated ? set[1..] : set).Replace(@"\-", "-", StringComparison.Ordinal);
        pattern.Append('[').Append(negated ? "^" : "").Append(body.Replace("]", @"\]", StringComparison.Ordinal)).Append(']');
        return close;
    }

    /// <summary>Whether a file (its path relative to the workspace root) matches.</summary>
    public bool Matches(string relativePath) =>
        _regex.IsMatch(_matchesFullPath ? relativePath : relativePath[(relativePath.LastIndexOf('/') + 1)..]);
}
