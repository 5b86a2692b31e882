namespace Tern.Chat;

internal enum TokenKind
{
    Data,
    VariableBegin,
    VariableEnd,
    BlockBegin,
    BlockEnd,
    Name,
    String,
    Integer,
    Float,
    Operator,
    Eof,

    /// <summary>A lexing error, raised only when the parser reaches it (Jinja2 lexes lazily).</summary>
    Error,
}

/// <summary>One lexer token; <see cref="Literal"/> holds the decoded value of strings and numbers.</summary>
internal readonly record struct Token(TokenKind Kind, string Text, int Line, Value? Literal = null)
{
    public bool IsName(string name) => Kind == TokenKind.Name && Text == name;

    public bool IsOperator(string op) => Kind == TokenKind.Operator && Text == op;

    /// <summary>How Jinja2 names a token in error messages.</summary>
    public string Describe() => Kind switch
    {
        TokenKind.Eof => "end of template",
        TokenKind.BlockBegin => "begin of statement block",
        TokenKind.BlockEnd => "end of statement block",
        TokenKind.VariableBegin => "begin of print statement",
        TokenKind.VariableEnd => "end of print statement",
        TokenKind.Data => "template data / text",
        TokenKind.String => "string",
        TokenKind.Integer => "integer",
        TokenKind.Float => "float",
        _ => Text,
    };
}
