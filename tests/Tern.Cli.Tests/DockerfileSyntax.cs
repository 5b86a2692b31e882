using System.Text.Json;

namespace Tern.Cli.Tests;

/// <summary>
/// A syntax check of a Dockerfile, as far as docker build would refuse it or build something else than meant: lines
/// joined at a trailing backslash, comments dropped; every instruction one Docker knows; FROM first (after ARGs),
/// stages named once, <c>COPY --from=</c> naming an earlier stage; the final stage's USER set and not root;
/// ENTRYPOINT, CMD and HEALTHCHECK CMD in exec form (a JSON array of strings). Errors throw <see cref="FormatException"/>.
/// </summary>
internal sealed class DockerfileSyntax
{
    private static readonly HashSet<string> Known =
    [
        "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME", "USER",
        "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
    ];

    /// <summary>The final stage's instructions, keyword and the rest of the line.</summary>
    public IReadOnlyList<(string Keyword, string Arguments)> Final { get; }

    public IReadOnlyList<string> Stages { get; }

    public string[] Entrypoint { get; }

    public string[] Cmd { get; }

    public string[] HealthcheckCmd { get; }

    public int[] Exposed { get; }

    public IReadOnlyDictionary<string, string> Env { get; }

    public string User { get; }

    public DockerfileSyntax(string text)
    {
        var stages = new List<string>();
        var final = new List<(string, string)>();
        foreach (var (keyword, arguments) in Instructions(text))
        {
            if (!Known.Contains(keyword))
                throw new FormatException($"unknown instruction {keyword}");
            if (keyword == "FROM")
            {
                stages.Add(StageName(arguments, stages));
                final.Clear();
            }
            else if (stages.Count == 0 && keyword != "ARG")
            {
                throw new FormatException($"{keyword} before the first FROM");
            }

            if (keyword is "COPY" or "ADD" && Flag(arguments, "--from") is { } from && !stages.Take(stages.Count - 1).Contains(from))
                throw new FormatException($"{keyword} --from={from} names no earlier stage ({string.Join(", ", stages)})");
            final.Add((keyword, arguments));
        }

        if (stages.Count == 0)
            throw new FormatException("no FROM");
        Stages = stages;
        Final = final;
        Entrypoint = ExecForm(Last("ENTRYPOINT") ?? throw new FormatException("the final stage has no ENTRYPOINT"), "ENTRYPOINT");
        Cmd = Last("CMD") is { } cmd ? ExecForm(cmd, "CMD") : [];
        HealthcheckCmd = Last("HEALTHCHECK") is { } check ? HealthcheckCommand(check) : [];
        Exposed = final.Where(i => i.Item1 == "EXPOSE").SelectMany(i => Words(i.Item2)).Select(p => int.Parse(p.Split('/')[0], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Env = final.Where(i => i.Item1 == "ENV").SelectMany(i => Words(i.Item2)).Select(w => w.Split('=', 2))
            .ToDictionary(kv => kv[0], kv => kv.Length == 2 ? kv[1] : throw new FormatException($"ENV {kv[0]} without '='"));
        User = Last("USER") ?? throw new FormatException("the final stage sets no USER: it would run as root");
        string uid = User.Split(':')[0];
        if (uid is "root" or "0" || uid.Length == 0)
            throw new FormatException($"the final stage's USER is root ({User})");
    }

    private string? Last(string keyword) => Final.LastOrDefault(i => i.Keyword == keyword).Arguments;

    /// <summary>Instructions with continuation lines joined; full-line comments (also inside a continuation) dropped.</summary>
    private static IEnumerable<(string Keyword, string Arguments)> Instructions(string text)
    {
        string current = "";
        foreach (string raw in text.Split('\n'))
        {
            string line = raw.TrimEnd('\r');
            if (line.TrimStart().StartsWith('#') || (current.Length == 0 && line.Trim().Length == 0))
                continue;
            bool continues = line.EndsWith('\\');
            current += continues ? line[..^1] + " " : line;
            if (continues)
                continue;
            string trimmed = current.Trim();
            current = "";
            int space = trimmed.IndexOfAny([' ', '\t']);
            yield return space < 0 ? (trimmed.ToUpperInvariant(), "") : (trimmed[..space].ToUpperInvariant(), trimmed[(space + 1)..].Trim());
        }

        if (current.Length > 0)
            throw new FormatException("the last line ends with a backslash");
    }

    private static string StageName(string arguments, List<string> stages)
    {
        var words = Words(arguments).Where(w => !w.StartsWith("--", StringComparison.Ordinal)).ToArray();
        if (words.Length == 1)
            return "";
        if (words.Length != 3 || !words[1].Equals("AS", StringComparison.OrdinalIgnoreCase))
            throw new FormatException($"FROM {arguments}: expected IMAGE [AS NAME]");
        return stages.Contains(words[2]) ? throw new FormatException($"stage {words[2]} named twice") : words[2];
    }

    private static string? Flag(string arguments, string name) =>
        Words(arguments).TakeWhile(w => w.StartsWith("--", StringComparison.Ordinal))
            .FirstOrDefault(w => w.StartsWith(name + "=", StringComparison.Ordinal))?[(name.Length + 1)..];

    private static string[] HealthcheckCommand(string arguments)
    {
        if (arguments == "NONE")
            return [];
        var options = Words(arguments).TakeWhile(w => w.StartsWith("--", StringComparison.Ordinal)).ToArray();
        string rest = arguments;
        foreach (string option in options)
            rest = rest[(rest.IndexOf(option, StringComparison.Ordinal) + option.Length)..].TrimStart();
        return rest.StartsWith("CMD ", StringComparison.Ordinal)
            ? ExecForm(rest[4..].Trim(), "HEALTHCHECK CMD")
            : throw new FormatException($"HEALTHCHECK {arguments}: expected [OPTIONS] CMD [...] or NONE");
    }

    private static string[] ExecForm(string arguments, string what)
    {
        try
        {
            return JsonSerializer.Deserialize<string[]>(arguments) is { Length: > 0 } argv && argv.All(a => a is not null)
                ? argv
                : throw new FormatException($"{what} is an empty array");
        }
        catch (JsonException)
        {
            throw new FormatException($"{what} is not in exec form (a JSON array of strings): {arguments}");
        }
    }

    private static string[] Words(string text) => text.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
}
