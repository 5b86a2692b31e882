using System.Globalization;
using System.Text;

namespace Tern.Tokenizers;

/// <summary>What a <c>tokenizer.ggml.pre</c> value selects: the regexes and the flags llama.cpp ties to it.</summary>
internal sealed record PreTokenizerDefinition(
    string Name,
    PreTokenizer PreTokenizer,
    bool CleanSpaces,
    bool IgnoreMerges = false,
    bool AddBos = false,
    bool NoBos = false);

/// <summary>
/// The BPE pre-tokenizers of llama.cpp (<c>llm_tokenizer_bpe</c>), keyed by <c>tokenizer.ggml.pre</c>. Patterns
/// are llama.cpp's, written for .NET: <c>$</c> becomes <c>\z</c> (.NET's <c>$</c> also matches before a final
/// newline) and astral ranges in raw patterns become surrogate-pair alternatives.
/// </summary>
internal static class PreTokenizerCatalog
{
    private const string Contractions = @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";

    private const string Gpt2 = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";

    private const string Llama3 =
        Contractions + @"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private const string Qwen2 =
        Contractions + @"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private const string Qwen35 =
        Contractions + @"|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private const string DeepSeek3Words =
        @"[!""#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private const string Tekken =
        @"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private const string Gpt4o =
        @"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+" + Contractions + @"?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*" + Contractions + @"?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private const string BailingMoe =
        @"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+";

    private const string SeedCoder =
        Contractions + @"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+";

    private const string Poro = " ?[^(\\s|.,!?…。，、।۔،)]+";

    private const string CjkRuns = "[一-龥ࠀ-一가-퟿]+";

    // deepseek-llm's letter class from llama.cpp, as escapes: several of its characters (U+1F7D, U+1FBE, U+2126,
    // U+212A, ...) would silently become others under Unicode normalization if written literally.
    private const string DeepSeekLetters =
        "\u0041-\u005A\u0061-\u007A\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF" +
        "\u01C4-\u0293\u0295-\u02AF\u0370-\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C" +
        "\u038E-\u03A1\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5" +
        "\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15" +
        "\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4" +
        "\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC" +
        "\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115\u2119-\u211D\u2124\u2126\u2128" +
        "\u212A-\u212D\u212F-\u2134\u2139\u213C-\u213F\u2145-\u2149\u214E\u2183\u2184\u2C00-\u2C7B" +
        "\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D\uA680-\uA69B\uA722-\uA76F\uA771-\uA787" +
        "\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06\uFB13-\uFB17\uFF21-\uFF3A\uFF41-\uFF5A" +
        "\U00010400-\U0001044F\U000104B0-\U000104D3\U000104D8-\U000104FB\U00010C80-\U00010CB2" +
        "\U00010CC0-\U00010CF2\U000118A0-\U000118DF\U0001E900-\U0001E943";

    private static readonly Dictionary<string, Func<PreTokenizerDefinition>> ByName = BuildTable();
    private static readonly Dictionary<string, PreTokenizerDefinition> Cache = new(StringComparer.Ordinal);

    public static IReadOnlyCollection<string> Names => ByName.Keys;

    /// <summary>The definition for a <c>tokenizer.ggml.pre</c> value (null or empty: llama.cpp's default).</summary>
    public static PreTokenizerDefinition? Find(string? name)
    {
        name = string.IsNullOrEmpty(name) ? "default" : name;
        lock (Cache)
        {
            if (Cache.TryGetValue(name, out var cached))
                return cached;
            if (!ByName.TryGetValue(name, out var build))
                return null;
            var definition = build();
            Cache[name] = definition;
            return definition;
        }
    }

    private static Dictionary<string, Func<PreTokenizerDefinition>> BuildTable()
    {
        var table = new Dictionary<string, Func<PreTokenizerDefinition>>(StringComparer.Ordinal);

        void Add(Func<string, PreTokenizerDefinition> make, params string[] names)
        {
            foreach (string n in names)
                table[n] = () => make(n);
        }

        Add(n => new(n, Rules(C(@"[\p{P}\$\+<=>\^~\|]+"), C(Gpt2), C(@"\p{N}+"), R("[0-9][0-9][0-9]")), CleanSpaces: true),
            "default");
        Add(n => new(n, Rules(C(Llama3)), CleanSpaces: true, IgnoreMerges: true, AddBos: true),
            "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano");
        Add(n => new(n, Rules(C(Llama3)), CleanSpaces: true), "dbrx", "smaug-bpe");
        Add(n => new(n, Rules(C(Llama3)), CleanSpaces: true, NoBos: true), "glm4", "chatglm-bpe");
        Add(n => new(n, Rules(
                R("[\r\n]"),
                R(@"\s?" + CodepointSet(DeepSeekLetters) + "+"),
                R("\\s?[!-/:-~！-／：-～‘-‟　-。]+"),
                R(@"\s+\z"),
                R(CjkRuns),
                C(@"\p{N}+")), CleanSpaces: false),
            "deepseek-llm");
        Add(n => new(n, Rules(R("[\r\n]"), C(@"\s?\p{L}+"), C(@"\s?\p{P}+"), R(CjkRuns), C(@"\p{N}")), CleanSpaces: false),
            "deepseek-coder");
        Add(n => new(n, Rules(C(@"\p{N}{1,3}"), R("[一-龥぀-ゟ゠-ヿ]+"), C(DeepSeek3Words)), CleanSpaces: false),
            "deepseek-v3", "hunyuan-dense");
        Add(n => new(n, Rules(C(@"[\p{P}\$\+<=>\^~\|`]+"), C(Gpt2), R("[0-9][0-9][0-9]")), CleanSpaces: true),
            "falcon");
        Add(n => new(n, Rules(C(@"\p{N}"), C(Gpt2)), CleanSpaces: true),
            "starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2");
        Add(n => new(n, Rules(C(@"\p{N}"), C(Gpt2)), CleanSpaces: false), "command-r", "smollm");
        Add(n => new(n, Rules(C(Gpt2)), CleanSpaces: true),
            "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
            "modern-bert", "jina-v1-en", "jina-v2-code", "roberta-bpe", "exaone4", "mpt", "olmo", "jais");
        Add(n => new(n, Rules(C(Gpt2)), CleanSpaces: false), "trillion", "granite-docling");
        Add(n => new(n, Rules(C(Qwen2)), CleanSpaces: false),
            "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "solar-open", "grok-2");
        Add(n => new(n, Rules(C(Qwen2)), CleanSpaces: true), "stablelm2", "megrez");
        Add(n => new(n, Rules(C(Qwen35)), CleanSpaces: false), "qwen35");
        Add(n => new(n, Rules(R(Poro)), CleanSpaces: false), "poro-chat");
        Add(n => new(n, Rules(R(Poro)), CleanSpaces: true), "bloom", "gpt3-finnish");
        Add(n => new(n, Rules(R(Poro), C(@"\p{N}")), CleanSpaces: false), "viking");
        Add(n => new(n, Rules(C(Tekken)), CleanSpaces: false, IgnoreMerges: true, AddBos: true), "tekken");
        Add(n => new(n, Rules(C(Gpt4o)), CleanSpaces: false), "gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2");
        Add(n => new(n, Rules(C(BailingMoe)), CleanSpaces: false), "bailingmoe", "bailingmoe2", "llada-moe");
        Add(n => new(n, Rules(C(SeedCoder)), CleanSpaces: false), "seed-coder");
        Add(n => new(n, Rules(
                R("<sentinel:[0-9]+>"),
                R("(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z"),
                R("([\\t\\n]|    |  )"),
                C(@"\p{N}"),
                C(@"[\p{P}!-/:-@\[-`{-~]"),
                C(Gpt2)), CleanSpaces: false, AddBos: true),
            "chameleon");
        return table;
    }

    private static PreTokenizer Rules(params PreTokenizerRule[] rules) => new(rules);

    /// <summary>A pattern with Unicode categories: runs on the collapsed text.</summary>
    private static PreTokenizerRule C(string pattern) => new(pattern, collapsed: true);

    /// <summary>A pattern without categories: runs on the code points.</summary>
    private static PreTokenizerRule R(string pattern) => new(pattern, collapsed: false);

    /// <summary>
    /// A character class over code points written as in a regex class body ("a-zµ𐐀-𐑏"), usable on UTF-16
    /// text: BMP code points in one class, astral ranges as alternatives of surrogate pairs.
    /// </summary>
    internal static string CodepointSet(string classBody)
    {
        var runes = classBody.EnumerateRunes().Select(r => r.Value).ToArray();
        var ranges = new List<(int First, int Last)>();
        for (int i = 0; i < runes.Length; i++)
        {
            if (i + 2 < runes.Length && runes[i + 1] == '-')
            {
                ranges.Add((runes[i], runes[i + 2]));
                i += 2;
            }
            else
            {
                ranges.Add((runes[i], runes[i]));
            }
        }

        var bmp = new StringBuilder();
        var astral = new List<string>();
        foreach (var (first, last) in ranges)
        {
            if (last < first)
                throw new ArgumentException($"reversed range U+{first:X4}-U+{last:X4}", nameof(classBody));
            if (last <= 0xFFFF)
            {
                bmp.Append(Escape(first));
                if (last != first)
                    bmp.Append('-').Append(Escape(last));
                continue;
            }
            // split the range at high-surrogate boundaries (every 0x400 code points)
            for (int lo = first; lo <= last;)
            {
                int blockEnd = Math.Min(last, lo | 0x3FF);
                string a = char.ConvertFromUtf32(lo), b = char.ConvertFromUtf32(blockEnd);
                astral.Add($"{Escape(a[0])}[{Escape(a[1])}-{Escape(b[1])}]");
                lo = blockEnd + 1;
            }
        }
        var alternatives = new List<string>();
        if (bmp.Length > 0)
            alternatives.Add("[" + bmp + "]");
        alternatives.AddRange(astral);
        return "(?:" + string.Join("|", alternatives) + ")";

        static string Escape(int cp) => "\\u" + cp.ToString("X4", CultureInfo.InvariantCulture);
    }
}
