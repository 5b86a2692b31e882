using System.Text.RegularExpressions;
using Tern.Gguf;

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
    /// The model file whose name carries the tag (case-insensitively, as a whole word: Q4_K does not match Q4_K_M),
    /// or every part of a split model (gguf-split's `-00001-of-0000N`) in order; without a tag Q4_K_M if present,
    /// else the only model. Projector files (mmproj) are never picked.
    /// </summary>
    public static IReadOnlyList<HubFile> Pick(string repo, IReadOnlyList<HubFile> files, string? quant)
    {
        var ggufs = files.Where(f => f.Path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)
            && !System.IO.Path.GetFileName(f.Path).StartsWith("mmproj", StringComparison.OrdinalIgnoreCase)).ToList();
        if (ggufs.Count == 0)
            throw new HubException($"{repo} has no GGUF file");
        var models = ggufs.GroupBy(f => GgufSplit.ParseName(f.Path) is { } part ? $"{part.Prefix}-of-{part.Count}" : f.Path)
            .Select(g => g.OrderBy(f => f.Path, StringComparer.Ordinal).ToList()).ToList();
        if (quant is null && models.Count == 1)
            return Complete(repo, models[0]);

        var matches = models.Where(m => Carries(m[0].Path, quant ?? DefaultQuant)).ToList();
        string available = string.Join(", ", models.Select(m => m[0].Path + (m.Count > 1 ? $" (+{m.Count - 1} parts)" : "")));
        if (matches.Count == 1)
            return Complete(repo, matches[0]);
        if (matches.Count > 1)
            throw new HubException($"{repo}: quant {quant ?? DefaultQuant} matches several models ({string.Join(", ", matches.Select(m => m[0].Path))}); give a tag only one of them carries");
        throw quant is null
            ? new HubException($"{repo} has several GGUF files and none is {DefaultQuant}: name one as {repo}:QUANT; available: {available}")
            : new HubException($"{repo} has no {quant} file; available: {available}");
    }

    /// <summary>A split model's parts, when all of them are there (part 1 to N, once each).</summary>
    private static List<HubFile> Complete(string repo, List<HubFile> model)
    {
        if (GgufSplit.ParseName(model[0].Path) is not { } first)
            return model;
        var numbers = model.Select(f => GgufSplit.ParseName(f.Path)!.Value.Index).ToList();
        if (!numbers.SequenceEqual(Enumerable.Range(0, first.Count)))
            throw new HubException($"{repo}: the split model {first.Prefix} has {first.Count} parts, but the listing holds part(s) {string.Join(", ", numbers.Select(n => n + 1))}");
        return model;
    }

    private static bool Carries(string path, string quant)
    {
        string name = System.IO.Path.GetFileNameWithoutExtension(path);
        return Regex.IsMatch(name, $@"(?<![A-Za-z0-9]){Regex.Escape(quant)}(?![A-Za-z0-9_])", RegexOptions.IgnoreCase);
    }
}
