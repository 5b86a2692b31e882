using Tern.Gguf;

namespace Tern.Tokenizers;

/// <summary>Typed reads of tokenizer metadata; every failure is a <see cref="TokenizerException"/> naming the key.</summary>
internal sealed class TokenizerMetadata(IReadOnlyDictionary<string, GgufValue> values)
{
    public const string Model = "tokenizer.ggml.model";
    public const string Pre = "tokenizer.ggml.pre";
    public const string Tokens = "tokenizer.ggml.tokens";
    public const string Scores = "tokenizer.ggml.scores";
    public const string TokenTypes = "tokenizer.ggml.token_type";
    public const string Merges = "tokenizer.ggml.merges";
    public const string BosId = "tokenizer.ggml.bos_token_id";
    public const string EosId = "tokenizer.ggml.eos_token_id";
    public const string EotId = "tokenizer.ggml.eot_token_id";
    public const string EomId = "tokenizer.ggml.eom_token_id";
    public const string UnkId = "tokenizer.ggml.unknown_token_id";
    public const string SepId = "tokenizer.ggml.seperator_token_id"; // sic: llama.cpp's spelling
    public const string PadId = "tokenizer.ggml.padding_token_id";
    public const string MaskId = "tokenizer.ggml.mask_token_id";
    public const string FimPreId = "tokenizer.ggml.fim_pre_token_id";
    public const string FimSufId = "tokenizer.ggml.fim_suf_token_id";
    public const string FimMidId = "tokenizer.ggml.fim_mid_token_id";
    public const string FimPadId = "tokenizer.ggml.fim_pad_token_id";
    public const string FimRepId = "tokenizer.ggml.fim_rep_token_id";
    public const string FimSepId = "tokenizer.ggml.fim_sep_token_id";
    public const string PrefixId = "tokenizer.ggml.prefix_token_id";
    public const string SuffixId = "tokenizer.ggml.suffix_token_id";
    public const string MiddleId = "tokenizer.ggml.middle_token_id";
    public const string AddBos = "tokenizer.ggml.add_bos_token";
    public const string AddEos = "tokenizer.ggml.add_eos_token";
    public const string AddSep = "tokenizer.ggml.add_sep_token";
    public const string AddSpacePrefix = "tokenizer.ggml.add_space_prefix";
    public const string Lowercase = "tokenizer.ggml.normalizer.lowercase";
    public const string StripAccents = "tokenizer.ggml.normalizer.strip_accents";
    public const string GeneralName = "general.name";

    public bool Has(string key) => values.ContainsKey(key);

    public string? String(string key)
    {
        if (!values.TryGetValue(key, out var v))
            return null;
        return v.Type == GgufValueType.String ? v.AsString() : throw WrongType(key, v, "a string");
    }

    public bool? Bool(string key)
    {
        if (!values.TryGetValue(key, out var v))
            return null;
        return v.Type == GgufValueType.Bool ? v.AsBool() : throw WrongType(key, v, "a bool");
    }

    public long? Integer(string key)
    {
        if (!values.TryGetValue(key, out var v))
            return null;
        return v.IsInteger ? v.AsInteger() : throw WrongType(key, v, "an integer");
    }

    public string[]? StringArray(string key)
    {
        if (!values.TryGetValue(key, out var v))
            return null;
        return v.Value is GgufArray { Items: string[] items } ? items : throw WrongType(key, v, "an array of strings");
    }

    /// <summary>Scores may be stored as float32 (usual) or int32 (some converters); both read as float.</summary>
    public float[]? FloatArray(string key)
    {
        if (!values.TryGetValue(key, out var v))
            return null;
        return v.Value switch
        {
            GgufArray { Items: float[] f } => f,
            GgufArray { Items: int[] i } => Array.ConvertAll(i, x => (float)x),
            _ => throw WrongType(key, v, "an array of float32 or int32"),
        };
    }

    public int[]? Int32Array(string key)
    {
        if (!values.TryGetValue(key, out var v))
            return null;
        return v.Value switch
        {
            GgufArray { Items: int[] i } => i,
            GgufArray { Items: uint[] u } => Array.ConvertAll(u, x => unchecked((int)x)),
            _ => throw WrongType(key, v, "an array of int32"),
        };
    }

    private static TokenizerException WrongType(string key, GgufValue value, string wanted)
    {
        string actual = value.Value is GgufArray a ? $"an array of {a.ElementType}" : value.Type.ToString();
        return new TokenizerException(key, $"expected {wanted}, found {actual}");
    }
}
