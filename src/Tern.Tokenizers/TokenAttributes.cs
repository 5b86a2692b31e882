namespace Tern.Tokenizers;

/// <summary>Token type codes as stored in <c>tokenizer.ggml.token_type</c>.</summary>
public enum TokenType
{
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>Per-token attributes, the same bits as llama.cpp's <c>llama_token_attr</c>.</summary>
[Flags]
public enum TokenAttributes
{
    Undefined = 0,
    Unknown = 1 << 0,
    Unused = 1 << 1,
    Normal = 1 << 2,
    Control = 1 << 3,
    UserDefined = 1 << 4,
    Byte = 1 << 5,
    Normalized = 1 << 6,
    /// <summary>Whitespace before the token is removed when special tokens are split out of text.</summary>
    LeftStrip = 1 << 7,
    /// <summary>Whitespace after the token is removed when special tokens are split out of text.</summary>
    RightStrip = 1 << 8,
    SingleWord = 1 << 9,
}

/// <summary>The tokenization algorithm, from <c>tokenizer.ggml.model</c>.</summary>
public enum TokenizerModel
{
    /// <summary>"llama": SentencePiece-style merging of the highest-scoring bigram.</summary>
    SentencePiece,

    /// <summary>"gpt2": byte-level BPE with ranked merges and a regex pre-tokenizer.</summary>
    BytePairEncoding,

    /// <summary>"bert": WordPiece, longest match first.</summary>
    WordPiece,
}
