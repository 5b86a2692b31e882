namespace Tern.Tokenizers.Tests;

/// <summary>llama.cpp's tokenizer test vectors (test-tokenizer-0), one theory case per vocabulary.</summary>
public sealed class TokenizerVectorTests(ITestOutputHelper output)
{
    public static TheoryData<string> Vocabularies() =>
    [
        "llama-spm", "phi-3", "gpt-2", "falcon", "mpt", "starcoder", "refact", "deepseek-llm", "deepseek-coder",
        "qwen2", "bert-bge",
    ];

    /// <summary>Byte-level BPE and SentencePiece are lossless; WordPiece lowercases and drops accents.</summary>
    public static TheoryData<string> LosslessVocabularies() =>
    [
        "llama-spm", "phi-3", "gpt-2", "falcon", "mpt", "starcoder", "refact", "deepseek-llm", "deepseek-coder", "qwen2",
    ];

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void Encode_matches_llama_cpp_on_every_test_vector(string vocabulary)
    {
        var tokenizer = VocabFixtures.Load(vocabulary);
        var vectors = VocabFixtures.Vectors(vocabulary);
        var failures = new List<string>();
        foreach (var v in vectors)
        {
            int[] actual = tokenizer.Encode(v.Text, addSpecial: false, parseSpecial: false);
            if (!actual.SequenceEqual(v.Expected))
                failures.Add($"#{v.Index} {Show(v.Text)}\n  expected {string.Join(' ', v.Expected)}\n  actual   {string.Join(' ', actual)}");
        }
        output.WriteLine($"{vocabulary}: {vectors.Count - failures.Count}/{vectors.Count} vectors pass");
        Assert.True(failures.Count == 0, $"{vocabulary}: {failures.Count}/{vectors.Count} vectors fail:\n" + string.Join('\n', failures));
    }

    /// <summary>
    /// Decoding gives the text back, except where llama.cpp's own detokenizer does not either: vocabularies with
    /// clean_spaces drop the space before "?!.," and some apostrophes (" ?" in one vector), which
    /// <see cref="SpaceCleanup"/> reproduces and <see cref="SpaceCleanupTests"/> pins down.
    /// </summary>
    [Theory]
    [MemberData(nameof(LosslessVocabularies))]
    public void Decode_gives_back_every_test_string_as_llama_cpp_does(string vocabulary)
    {
        var tokenizer = VocabFixtures.Load(vocabulary);
        var vectors = VocabFixtures.Vectors(vocabulary);
        int exact = 0;
        var failures = new List<string>();
        foreach (var v in vectors)
        {
            string expected = tokenizer.CleanSpaces ? Clean(v.Text) : v.Text;
            string decoded = tokenizer.Decode(v.Expected);
            if (decoded != expected)
                failures.Add($"#{v.Index} {Show(v.Text)} decoded as {Show(decoded)}");
            else if (decoded == v.Text)
                exact++;
        }
        output.WriteLine($"{vocabulary}: {exact}/{vectors.Count} round-trip exactly, {vectors.Count - exact - failures.Count} differ only by llama.cpp's space clean-up");
        Assert.True(failures.Count == 0, string.Join('\n', failures));
        Assert.True(tokenizer.CleanSpaces || exact == vectors.Count);
    }

    [Theory]
    [MemberData(nameof(Vocabularies))]
    public void Incremental_detokenizer_streams_exactly_what_Decode_returns(string vocabulary)
    {
        var tokenizer = VocabFixtures.Load(vocabulary);
        var failures = new List<string>();
        int streams = 0;
        foreach (var v in VocabFixtures.Vectors(vocabulary))
        {
            foreach (bool addSpecial in (bool[])[false, true])
            {
                int[] ids = tokenizer.Encode(v.Text, addSpecial);
                foreach (var (removeSpecial, renderSpecial) in ((bool, bool)[])[(false, false), (true, false), (false, true)])
                {
                    streams++;
                    string expected = tokenizer.Decode(ids, removeSpecial, renderSpecial);
                    var detokenizer = tokenizer.CreateDetokenizer(removeSpecial, renderSpecial);
                    var chunks = ids.Select(detokenizer.Append).ToList();
                    chunks.Add(detokenizer.Flush());
                    string streamed = string.Concat(chunks);
                    if (streamed != expected)
                        failures.Add($"#{v.Index} {Show(v.Text)}: streamed {Show(streamed)}, Decode {Show(expected)}");
                    else if (chunks.Any(c => c.Contains('\uFFFD', StringComparison.Ordinal) || HasLoneSurrogate(c)))
                        failures.Add($"#{v.Index} {Show(v.Text)}: a chunk holds a broken character: {string.Join(" | ", chunks.Select(Show))}");
                }
            }
        }
        output.WriteLine($"{vocabulary}: {streams - failures.Count}/{streams} streams match Decode with whole characters only");
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    private static string Clean(string text)
    {
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(text);
        int length = SpaceCleanup.Apply(bytes);
        return System.Text.Encoding.UTF8.GetString(bytes, 0, length);
    }

    private static bool HasLoneSurrogate(string s)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                i++;
            else if (char.IsSurrogate(s[i]))
                return true;
        }
        return false;
    }

    internal static string Show(string s) =>
        "'" + s.Replace("\n", "\\n", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal)
            .Replace("\r", "\\r", StringComparison.Ordinal) + "'";
}
