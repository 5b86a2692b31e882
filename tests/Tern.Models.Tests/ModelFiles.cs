using Tern.Gguf;

namespace Tern.Models.Tests;

/// <summary>Builds altered copies of the shared models for load-error tests.</summary>
internal static class ModelFiles
{
    /// <summary>Copies <paramref name="source"/> to <paramref name="destination"/>, replacing metadata values (or adding
    /// them after the file's own) and dropping or renaming tensors as told (tensor data is copied unchanged).</summary>
    public static string Rewrite(string source, string destination,
        IReadOnlyDictionary<string, GgufValue>? metadata = null, Func<GgufTensorInfo, (string Name, long[] Dimensions)?>? tensor = null)
    {
        using var file = GgufFile.Open(source);
        var writer = new GgufWriter(file.Version);
        foreach (var (key, value) in file.Metadata)
            writer.Add(key, metadata is not null && metadata.TryGetValue(key, out var replaced) ? replaced : value);
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
            byte[] data = file.GetTensorBytes(t).ToArray();
            writer.AddTensor(k.Name, k.Dimensions, t.Type, data);
        }

        writer.WriteFile(destination);
        return destination;
    }
}
