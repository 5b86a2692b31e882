using System.Collections.Concurrent;
using System.Text;
using Tern.Gguf;

namespace Tern.Tokenizers.Tests;

/// <summary>One string of llama.cpp's tokenizer test vectors and the ids llama.cpp produced for it.</summary>
internal sealed record TestVector(int Index, string Text, int[] Expected);

/// <summary>
/// llama.cpp's vocabulary files and test vectors (<c>shared/tokenizer/ggml-vocab-NAME.gguf[.inp|.out]</c>), loaded
/// once per test run.
/// </summary>
internal static class VocabFixtures
{
    private static readonly ConcurrentDictionary<string, Lazy<Tokenizer>> Tokenizers = new();

    public static Tokenizer Load(string name) =>
        Tokenizers.GetOrAdd(name, n => new Lazy<Tokenizer>(() => LoadFile(GgufPath(n)))).Value;

    public static Tokenizer LoadModel(string relativePath) =>
        Tokenizers.GetOrAdd(relativePath, p => new Lazy<Tokenizer>(() => LoadFile(SharedData.Path(p)))).Value;

    public static string GgufPath(string name) => SharedData.Path($"tokenizer/ggml-vocab-{name}.gguf");

    /// <summary>
    /// Parsed as llama.cpp's test-tokenizer-0 does: the .inp file is split on "\n__ggml_vocab_test__\n" (so a
    /// string keeps its own leading and trailing newlines), and line i of the .out file, stripped, holds the
    /// space-separated ids of string i.
    /// </summary>
    public static IReadOnlyList<TestVector> Vectors(string name)
    {
        const string separator = "\n__ggml_vocab_test__\n";
        string raw = Encoding.UTF8.GetString(File.ReadAllBytes(GgufPath(name) + ".inp"));
        var inputs = new List<string>();
        for (int pos = 0; pos < raw.Length;)
        {
            int next = raw.IndexOf(separator, pos, StringComparison.Ordinal);
            if (next < 0)
            {
                inputs.Add(raw[pos..]);
                break;
            }
            inputs.Add(raw[pos..next]);
            pos = next + separator.Length;
        }

        var lines = Encoding.UTF8.GetString(File.ReadAllBytes(GgufPath(name) + ".out")).Split('\n').ToList();
        if (lines.Count > 0 && lines[^1].Length == 0)
            lines.RemoveAt(lines.Count - 1); // getline does not report the empty string after a final newline
        if (lines.Count != inputs.Count)
            throw new InvalidDataException($"{name}: {inputs.Count} test strings but {lines.Count} expected lines");

        return inputs.Select((text, i) => new TestVector(i, text,
            lines[i].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray())).ToList();
    }

    private static Tokenizer LoadFile(string path)
    {
        using var file = GgufFile.Open(path);
        return Tokenizer.FromGguf(file);
    }
}
