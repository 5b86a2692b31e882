namespace Tern.Chat;

/// <summary>
/// A chat template failed to parse or to render. <see cref="Reason"/> is the bare cause (Jinja2's own wording where it
/// has one); <see cref="Line"/> is the 1-based template line, 0 when unknown. A template's own
/// <c>raise_exception(msg)</c> produces exactly <c>msg</c> as the message.
/// </summary>
public sealed class TemplateException : Exception
{
    private readonly TemplateErrorKind _kind;

    internal TemplateException(string reason, int line = 0, TemplateErrorKind kind = TemplateErrorKind.Runtime, Exception? inner = null)
        : base(reason, inner)
    {
        Reason = reason;
        Line = line;
        _kind = kind;
    }

    /// <summary>The cause without location, e.g. <c>'dict object' has no attribute 'name'</c>.</summary>
    public string Reason { get; }

    /// <summary>1-based line of the template where the error happened, or 0.</summary>
    public int Line { get; internal set; }

    /// <summary>True when the template itself called <c>raise_exception</c>.</summary>
    public bool RaisedByTemplate => _kind == TemplateErrorKind.Raised;

    /// <summary>True when the template source is not valid template syntax.</summary>
    public bool IsSyntaxError => _kind == TemplateErrorKind.Syntax;

    public override string Message => _kind switch
    {
        TemplateErrorKind.Raised => Reason,
        TemplateErrorKind.Syntax => $"template syntax error at line {Line}: {Reason}",
        _ => Line > 0 ? $"{Reason} (template line {Line})" : Reason,
    };
}

internal enum TemplateErrorKind
{
    Runtime,
    Syntax,
    Raised,
}
