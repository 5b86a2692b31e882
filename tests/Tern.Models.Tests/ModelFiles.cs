using Tern.Gguf;

namespace Tern.Models.Tests;

/// <summary>Builds altered copies of the shared models for load-error tests.</summary>
internal static class ModelFiles
{
    /// <summary>Copies <paramref name="source"/> to <paramref name="destination"/>, replacing metadata values (or adding
    /// them after the file's own), dropping keys, dropping or renaming tensors, taking a tensor's data from another
    /// (<paramref name="dataOf"/>) or cutting it short (<paramref name="dataLength"/>), as told.</summary>
    public static string Rewrite(string source, string destination,
        IReadOnlyDictionary<string, GgufValue>? metadata = null, Func<GgufTensorInfo, (string Name, long[] Dimensions)?>? tensor = null,
        IReadOnlyCollection<string>? drop = null, Func<string, string>? dataOf = null, Func<string, int?>? dataLength = null)
    {
        using var file = GgufFile.Open(source);
        var writer = new GgufWriter(file.Version);
        foreach (var (key, value) in file.Metadata)
        {
            if (drop is null || !drop.Contains(key))
                writer.Add(key, metadata is not null && metadata.TryGetValue(key, out var replaced) ? replaced : value);
        }
        foreach (var (key, value) in metadata ?? new Dictionary<string, GgufValue>())
        {
            if (!file.TryGetValue(key, out _))
                writer.Add(key, value);
        }
        foreach (var t in file.Tensors)
        {
            var kept = tensor is null ? (t.Name, t.Dimensions) : tensor(t);
            if (kept is not { } k)
                continue;
            byte[] data = file.GetTensorBytes(file.GetTensor(dataOf?.Invoke(t.Name) ?? t.Name)).ToArray();
            if (dataLength?.Invoke(t.Name) is { } length)
                data = data[..length];
            writer.AddTensor(k.Name, k.Dimensions, t.Type, data);
        }

        writer.WriteFile(destination);
        return destination;
    }
}
