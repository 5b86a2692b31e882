using System.Text.RegularExpressions;

namespace Tern.Cli.Hub;

/// <summary>Chooses the GGUF file of a repository for a quant tag, as llama.cpp's `-hf REPO:QUANT`.</summary>
public static class QuantPicker
{
    public const string DefaultQuant = "Q4_K_M";

    /// <summary>`owner/name[:QUANT]` split into the repository and the tag (null when none is given).</summary>
    public static (string Repo, string? Quant) ParseReference(string reference)
    {
        int colon = reference.IndexOf(':');
        string repo = colon < 0 ? reference : reference[..colon];
        string? quant = colon < 0 ? null : reference[(colon + 1)..];
        if (!Regex.IsMatch(repo, @"^[A-Za-z0-9][\w.-]*/[\w.-]+$") || repo.Contains(".."))
            throw new HubException($"'{reference}' is not a hub model: expected OWNER/NAME[:QUANT]");
        if (quant is not null && !Regex.IsMatch(quant, @"^[\w.-]+$"))
            throw new HubException($"'{quant}' is not a quant tag (e.g. Q4_K_M)");
        return (repo, quant);
    }

    /// <summary>
    /// The file whose name carries the tag (case-insensitively, as a whole word: Q4_K does not match Q4_K_M);
    /// without a tag Q4_K_M if present, else the only GGUF. Projector files (mmproj) are never picked.
    /// </summary>
    public static HubFile Pick(string repo, IReadOnlyList<HubFile> files, string? quant)
    {
        var ggufs = files.Where(f => f.Path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)
            && !System.IO.Path.GetFileName(f.Path).StartsWith("mmproj", StringComparison.OrdinalIgnoreCase)).ToList();
        if (ggufs.Count == 0)
            throw new HubException($"{repo} has no GGUF file");
        if (quant is null && ggufs.Count == 1)
            return ggufs[0];

        var matches = ggufs.Where(f => Carries(f.Path, quant ?? DefaultQuant)).ToList();
        string available = string.Join(", ", ggufs.Select(f => f.Path));
        if (matches.Count == 1)
            return matches[0];
        if (matches.Count > 1)
            throw new HubException($"{repo}: quant {quant} matches several files ({string.Join(", ", matches.Select(f => f.Path))}); split GGUFs are not supported yet");
        throw quant is null
            ? new HubException($"{repo} has several GGUF files and none is {DefaultQuant}: name one as {repo}:QUANT; available: {available}")
            : new HubException($"{repo} has no {quant} file; available: {available}");
    }

    private static bool Carries(string path, string quant)
    {
        string name = System.IO.Path.GetFileNameWithoutExtension(path);
        return Regex.IsMatch(name, $@"(?<![A-Za-z0-9]){Regex.Escape(quant)}(?![A-Za-z0-9_])", RegexOptions.IgnoreCase);
    }
}
