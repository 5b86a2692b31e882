namespace Tern.Tokenizers;

/// <summary>
/// Everything read from the metadata, with llama.cpp's defaults and fix-ups applied (<c>llama_vocab::load</c>).
/// </summary>
internal sealed class TokenizerSettings
{
    public required TokenizerModel Model { get; init; }
    public required Vocabulary Vocabulary { get; init; }
    public string? PreTokenizerName { get; init; }
    public PreTokenizer? PreTokenizer { get; init; }
    public Dictionary<string, int>? MergeRanks { get; init; }
    public bool IgnoreMerges { get; init; }
    public required int[] ByteTokens { get; init; }
    public int Bos { get; init; }
    public int Eos { get; init; }
    public int Eot { get; init; }
    public int Eom { get; init; }
    public int Unknown { get; init; }
    public int Separator { get; init; }
    public int Padding { get; init; }
    public int Mask { get; init; }
    public bool AddBos { get; init; }
    public bool AddEos { get; init; }
    public bool AddSeparator { get; init; }
    public bool AddSpacePrefix { get; init; }
    public bool CleanSpaces { get; init; }
    public bool Lowercase { get; init; }
    public bool StripAccents { get; init; }
    public required HashSet<int> EndOfGeneration { get; init; }

    // llama.cpp's lists of token texts that mark end of turn / end of generation when no id is given
    private static readonly string[] EotTexts =
    [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>",
        "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>",
    ];

    private static readonly string[] EogTexts =
    [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
        "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
        "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[",
    ];

    private static readonly string[] FimPadTexts = ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
    private static readonly string[] FimRepTexts = ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"];
    private static readonly string[] FimSepTexts = ["<|file_sep|>"];

    private static readonly string[] FimPreTexts =
        ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"];

    private static readonly string[] FimSufTexts =
        ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"];

    private static readonly string[] FimMidTexts =
        ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"];

    public static TokenizerSettings Load(TokenizerMetadata meta)
    {
        string model = meta.String(TokenizerMetadata.Model)
            ?? throw new TokenizerException(TokenizerMetadata.Model, "missing: the file has no tokenizer");
        string? pre = meta.String(TokenizerMetadata.Pre);

        TokenizerModel kind;
        int bos, eos, unk, sep = -1, pad = -1, mask = -1;
        bool addSpacePrefix = false, addBos, addEos = false, addSep = false, cleanSpaces, ignoreMerges = false;
        PreTokenizerDefinition? preDefinition = null;
        switch (model)
        {
            case "llama":
                kind = TokenizerModel.SentencePiece;
                (bos, eos, unk) = (1, 2, 0);
                addSpacePrefix = true;
                addBos = true;
                cleanSpaces = false;
                pre = null;
                break;
            case "gpt2":
                kind = TokenizerModel.BytePairEncoding;
                (bos, eos, unk) = (11, 11, -1);
                preDefinition = PreTokenizerCatalog.Find(pre) ?? throw new TokenizerException(TokenizerMetadata.Pre,
                    $"unknown pre-tokenizer '{pre}'; supported: {string.Join(", ", PreTokenizerCatalog.Names.Order(StringComparer.Ordinal))}");
                pre = preDefinition.Name;
                cleanSpaces = preDefinition.CleanSpaces;
                ignoreMerges = preDefinition.IgnoreMerges;
                addBos = preDefinition.AddBos;
                if (preDefinition.NoBos)
                    bos = -1;
                addSep = pre is "jina-v1-en" or "jina-v2-code" or "roberta-bpe";
                break;
            case "bert":
                kind = TokenizerModel.WordPiece;
                (bos, eos, unk, sep, pad, mask) = (101, -1, 100, 102, 0, 103);
                addBos = true;
                addSep = true;
                cleanSpaces = true;
                pre = null;
                break;
            default:
                throw new TokenizerException(TokenizerMetadata.Model,
                    $"unsupported tokenizer model '{model}' (supported: llama, gpt2, bert)");
        }
        addSpacePrefix = meta.Bool(TokenizerMetadata.AddSpacePrefix) ?? addSpacePrefix;

        string[] texts = meta.StringArray(TokenizerMetadata.Tokens)
            ?? throw new TokenizerException(TokenizerMetadata.Tokens, "missing: the vocabulary has no tokens");
        int n = texts.Length;
        if (n == 0)
            throw new TokenizerException(TokenizerMetadata.Tokens, "the vocabulary is empty");
        float[]? scores = meta.FloatArray(TokenizerMetadata.Scores);
        if (scores is not null && scores.Length != n)
            throw new TokenizerException(TokenizerMetadata.Scores,
                $"has {scores.Length} entries but {TokenizerMetadata.Tokens} has {n}");
        int[]? types = meta.Int32Array(TokenizerMetadata.TokenTypes);
        if (types is not null && types.Length != n)
            throw new TokenizerException(TokenizerMetadata.TokenTypes,
                $"has {types.Length} entries but {TokenizerMetadata.Tokens} has {n}");

        texts = (string[])texts.Clone();
        var ids = new Dictionary<string, int>(n, StringComparer.Ordinal);
        var attributes = new TokenAttributes[n];
        for (int i = 0; i < n; i++)
        {
            if (texts[i].Length == 0)
                texts[i] = $"[EMPTY_{i}]";
            if (!ids.TryAdd(texts[i], i))
                throw new TokenizerException(TokenizerMetadata.Tokens,
                    $"duplicate token '{texts[i]}' at ids {ids[texts[i]]} and {i}");
            attributes[i] = types is null ? TokenAttributes.Normal : (TokenType)types[i] switch
            {
                TokenType.Normal => TokenAttributes.Normal,
                TokenType.Unknown => TokenAttributes.Unknown,
                TokenType.Control => TokenAttributes.Control,
                TokenType.UserDefined => TokenAttributes.UserDefined,
                TokenType.Unused => TokenAttributes.Unused,
                TokenType.Byte => TokenAttributes.Byte,
                _ => TokenAttributes.Undefined,
            };
        }

        Dictionary<string, int>? mergeRanks = null;
        if (kind == TokenizerModel.BytePairEncoding)
        {
            string[] merges = meta.StringArray(TokenizerMetadata.Merges)
                ?? throw new TokenizerException(TokenizerMetadata.Merges, "missing: a gpt2 (BPE) tokenizer needs its merges");
            mergeRanks = new Dictionary<string, int>(merges.Length, StringComparer.Ordinal);
            for (int rank = 0; rank < merges.Length; rank++)
                mergeRanks.TryAdd(merges[rank], rank); // the first occurrence wins, as in llama.cpp
        }

        // special token ids: defaults that fall outside the vocabulary are dropped; a bad id in the metadata
        // keeps the default (llama.cpp warns and goes on)
        int eot = -1, eom = -1, fimPre = -1, fimSuf = -1, fimMid = -1, fimPad = -1, fimRep = -1, fimSep = -1;
        bos = SpecialId(TokenizerMetadata.BosId, bos);
        eos = SpecialId(TokenizerMetadata.EosId, eos);
        eot = SpecialId(TokenizerMetadata.EotId, eot);
        eom = SpecialId(TokenizerMetadata.EomId, eom);
        unk = SpecialId(TokenizerMetadata.UnkId, unk);
        sep = SpecialId(TokenizerMetadata.SepId, sep);
        pad = SpecialId(TokenizerMetadata.PadId, pad);
        mask = SpecialId(TokenizerMetadata.MaskId, mask);
        fimPre = SpecialId(TokenizerMetadata.FimPreId, fimPre);
        fimSuf = SpecialId(TokenizerMetadata.FimSufId, fimSuf);
        fimMid = SpecialId(TokenizerMetadata.FimMidId, fimMid);
        fimPad = SpecialId(TokenizerMetadata.FimPadId, fimPad);
        fimRep = SpecialId(TokenizerMetadata.FimRepId, fimRep);
        fimSep = SpecialId(TokenizerMetadata.FimSepId, fimSep);
        fimPre = SpecialId(TokenizerMetadata.PrefixId, fimPre);
        fimSuf = SpecialId(TokenizerMetadata.SuffixId, fimSuf);
        fimMid = SpecialId(TokenizerMetadata.MiddleId, fimMid);

        addBos = meta.Bool(TokenizerMetadata.AddBos) ?? addBos;
        addEos = meta.Bool(TokenizerMetadata.AddEos) ?? addEos;
        addSep = meta.Bool(TokenizerMetadata.AddSep) ?? addSep;
        if (addBos && bos < 0)
            throw new TokenizerException(TokenizerMetadata.AddBos, $"is true, but {TokenizerMetadata.BosId} is not set");
        if (addEos && eos < 0)
            throw new TokenizerException(TokenizerMetadata.AddEos, $"is true, but {TokenizerMetadata.EosId} is not set");
        if (addSep && sep < 0)
            throw new TokenizerException(TokenizerMetadata.AddSep, $"is true, but {TokenizerMetadata.SepId} is not set");

        bool lowercase = meta.Bool(TokenizerMetadata.Lowercase) ?? true;
        bool stripAccents = meta.Bool(TokenizerMetadata.StripAccents) ?? lowercase;

        // tokens found by their text when the metadata does not name them; they become control tokens
        eot = eot >= 0 ? eot : FindControl(EotTexts);
        eom = eom >= 0 ? eom : FindControl(["<|eom_id|>"]);
        fimPre = fimPre >= 0 ? fimPre : FindControl(FimPreTexts);
        fimSuf = fimSuf >= 0 ? fimSuf : FindControl(FimSufTexts);
        fimMid = fimMid >= 0 ? fimMid : FindControl(FimMidTexts);
        fimPad = fimPad >= 0 ? fimPad : FindControl(FimPadTexts);
        fimRep = fimRep >= 0 ? fimRep : FindControl(FimRepTexts);
        fimSep = fimSep >= 0 ? fimSep : FindControl(FimSepTexts);

        // control tokens whose text says "unused" are unused
        for (int i = 0; i < n; i++)
        {
            if ((attributes[i] & TokenAttributes.Control) != 0 && texts[i].Contains("unused", StringComparison.Ordinal))
                attributes[i] |= TokenAttributes.Unused;
        }

        var eog = new HashSet<int>();
        foreach (int id in (ReadOnlySpan<int>)[fimPad, fimRep, fimSep])
        {
            if (id >= 0)
                eog.Add(id);
        }
        foreach (string text in EogTexts)
        {
            if (ids.TryGetValue(text, out int id))
            {
                eog.Add(id);
                attributes[id] |= TokenAttributes.Control;
            }
        }
        // gpt-oss: these must always be rendered
        foreach (string text in (ReadOnlySpan<string>)["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"])
        {
            if (ids.TryGetValue(text, out int id))
                attributes[id] = TokenAttributes.UserDefined;
        }
        foreach (int id in (ReadOnlySpan<int>)[eos, eot, eom])
        {
            if (id >= 0)
                eog.Add(id);
        }
        // o200k_harmony and solar-open: <|end|> does not end generation when <|return|>/<|call|> exist
        bool Eog(string text) => ids.TryGetValue(text, out int id) && eog.Contains(id);
        if (Eog("<|end|>") && ((Eog("<|return|>") && Eog("<|call|>")) || (Eog("<|calls|>") && Eog("<|flush|>"))))
        {
            int end = ids["<|end|>"];
            eog.Remove(end);
            attributes[end] = TokenAttributes.UserDefined;
        }
        // gemma4 and paddleocr: </s> is not end of generation when <|tool_response> is
        if (Eog("<|tool_response>") && Eog("</s>"))
        {
            int s = ids["</s>"];
            eog.Remove(s);
            attributes[s] = TokenAttributes.Normal;
        }

        // per-model attributes llama.cpp sets by name
        string name = (meta.String(TokenizerMetadata.GeneralName) ?? "").ToLowerInvariant();
        if (pre is "jina-v2-de" or "jina-v2-es" or "jina-v2-code")
        {
            if (ids.TryGetValue("<mask>", out int m))
                attributes[m] |= TokenAttributes.LeftStrip;
        }
        else if (name.Contains("phi-3", StringComparison.Ordinal) || name.Contains("phi3", StringComparison.Ordinal))
        {
            for (int i = 0; i < n; i++)
            {
                if ((attributes[i] & (TokenAttributes.Control | TokenAttributes.UserDefined | TokenAttributes.Unknown)) != 0)
                    attributes[i] |= TokenAttributes.RightStrip;
            }
            if (ids.TryGetValue("</s>", out int s))
                attributes[s] |= TokenAttributes.RightStrip;
            foreach (string text in (ReadOnlySpan<string>)["<unk>", "<s>", "<|endoftext|>"])
            {
                if (ids.TryGetValue(text, out int id))
                    attributes[id] &= ~TokenAttributes.RightStrip;
            }
        }
        else if (name.Contains("modern-bert", StringComparison.Ordinal) && ids.TryGetValue("[MASK]", out int mask2))
        {
            attributes[mask2] |= TokenAttributes.LeftStrip;
        }

        var vocabulary = new Vocabulary(texts, scores ?? new float[n], attributes, ids);
        var byteTokens = new int[256];
        for (int b = 0; b < 256; b++)
        {
            // SentencePiece byte fallback: "<0xNN>", else the byte itself as a one-character token
            byteTokens[b] = ids.TryGetValue($"<0x{b:X2}>", out int id) ? id
                : b < 0x80 && ids.TryGetValue(((char)b).ToString(), out id) ? id : -1;
        }

        return new TokenizerSettings
        {
            Model = kind,
            Vocabulary = vocabulary,
            PreTokenizerName = pre,
            PreTokenizer = preDefinition?.PreTokenizer,
            MergeRanks = mergeRanks,
            IgnoreMerges = ignoreMerges,
            ByteTokens = byteTokens,
            Bos = bos,
            Eos = eos,
            Eot = eot,
            Eom = eom,
            Unknown = unk,
            Separator = sep,
            Padding = pad,
            Mask = mask,
            AddBos = addBos,
            AddEos = addEos,
            AddSeparator = addSep,
            AddSpacePrefix = addSpacePrefix,
            CleanSpaces = cleanSpaces,
            Lowercase = lowercase,
            StripAccents = stripAccents,
            EndOfGeneration = eog,
        };

        int SpecialId(string key, int fallback)
        {
            if (fallback >= n)
                fallback = -1;
            long? value = meta.Integer(key);
            return value is >= 0 && value < n ? (int)value.Value : fallback;
        }

        int FindControl(string[] candidates)
        {
            foreach (string text in candidates)
            {
                if (ids.TryGetValue(text, out int id))
                {
                    attributes[id] |= TokenAttributes.Control;
                    return id;
                }
            }
            return -1;
        }
    }
}
