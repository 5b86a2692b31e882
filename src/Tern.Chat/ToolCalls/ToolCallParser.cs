using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Tern.Chat.ToolCalls;

/// <summary>
/// Splits an assistant turn into content and tool calls, for one <see cref="ToolCallFormat"/>, while the text streams in:
/// <see cref="Push"/> each text delta, then <see cref="Finish"/> once at the end of the turn. Content is released only when it
/// cannot be part of a call (text that may be the start of a marker is held back, like a stop-string matcher), so markup never
/// reaches the client; the result does not depend on how the text was cut into deltas.
/// Whitespace between content and a call is dropped, except as the separator of content on both sides of a call.
/// Malformed calls become <see cref="ToolCallError"/>s, never exceptions. Not thread-safe: one parser per turn.
/// </summary>
public abstract class ToolCallParser
{
    private const string IdAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    private readonly Func<string>? _newId;
    private readonly StringBuilder _content = new();
    private readonly StringBuilder _heldWhitespace = new();
    private readonly List<ToolCall> _calls = [];
    private readonly List<ToolCallError> _errors = [];
    private char[] _buffer = new char[256];
    private int _start, _end;
    private int _callsTaken, _errorsTaken;
    private bool _afterCall, _contentSeen, _finished;
    private char? _carriedHighSurrogate;

    private protected ToolCallParser(ToolCallFormat format, Func<string>? newId)
    {
        Format = format;
        _newId = newId;
    }

    public ToolCallFormat Format { get; }

    /// <summary>Every call completed so far in this turn.</summary>
    public IReadOnlyList<ToolCall> Calls => _calls;

    /// <summary>Every malformed call found so far in this turn.</summary>
    public IReadOnlyList<ToolCallError> Errors => _errors;

    /// <summary>True once the turn contains a call or a malformed call (the turn then ends with <c>finish_reason: "tool_calls"</c>).</summary>
    public bool HasToolCalls => _calls.Count > 0 || _errors.Count > 0;

    /// <param name="format">The model's format, see <see cref="ToolCallFormats.Detect(string?)"/>.</param>
    /// <param name="newId">Makes the id of a call that has none; by default <c>call_</c> and 24 random letters and digits (for
    /// Mistral 9 letters and digits, the only ids its template accepts).</param>
    /// <param name="tools">The request's tools (OpenAI shape): formats that write arguments as bare text type them by the tools'
    /// JSON schemas (see <see cref="ToolCallFormat.QwenXml"/>). Optional; malformed entries are ignored.</param>
    public static ToolCallParser Create(ToolCallFormat format, Func<string>? newId = null, JsonArray? tools = null) => format switch
    {
        ToolCallFormat.QwenXml => new QwenXmlToolCallParser(newId, new ArgumentTypes(tools)),
        ToolCallFormat.Gemma4 => new Gemma4ToolCallParser(newId),
        ToolCallFormat.Hermes => new HermesToolCallParser(newId),
        ToolCallFormat.Llama3 => new Llama3ToolCallParser(newId),
        ToolCallFormat.Mistral => new MistralToolCallParser(newId),
        ToolCallFormat.Generic => new GenericToolCallParser(newId),
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "unknown tool-call format"),
    };

    /// <summary>Parses a complete assistant message.</summary>
    public static ToolCallUpdate Parse(ToolCallFormat format, string message, Func<string>? newId = null, JsonArray? tools = null)
    {
        ArgumentNullException.ThrowIfNull(message);
        var parser = Create(format, newId, tools);
        var first = parser.Push(message);
        var last = parser.Finish();
        return new ToolCallUpdate(first.Content + last.Content, parser._calls.ToArray(), parser._errors.ToArray());
    }

    /// <summary>Adds generated text; returns the content that may be shown now and the calls completed by this text.</summary>
    public ToolCallUpdate Push(string textDelta)
    {
        ArgumentNullException.ThrowIfNull(textDelta);
        if (_finished)
            throw new InvalidOperationException("the parser has finished; create a new one for the next turn");
        Append(textDelta);
        Run(final: false);
        return TakeUpdate();
    }

    /// <summary>Ends the turn: releases held-back content and reports calls left unfinished as errors.</summary>
    public ToolCallUpdate Finish()
    {
        if (_finished)
            throw new InvalidOperationException("the parser has already finished");
        Run(final: true);
        if (_end > _start)
            AddContent(Consume(_end - _start)); // a parser that leaves text behind at the end is a bug; never lose text
        if (!_afterCall)
            _content.Append(_heldWhitespace);
        _heldWhitespace.Clear();
        _finished = true;
        return TakeUpdate();
    }

    /// <summary>The text received and not yet consumed.</summary>
    private protected ReadOnlySpan<char> Text => _buffer.AsSpan(_start, _end - _start);

    /// <summary>
    /// Advances the state machine over <see cref="Text"/>: returns true after consuming text or changing state, false when
    /// more text is needed. With <paramref name="final"/> there is no more text: steps must then consume everything.
    /// </summary>
    private protected abstract bool Step(bool final);

    /// <summary>How this format writes a call, appended to error messages for the model.</summary>
    private protected abstract string FormatHint { get; }

    private protected string Consume(int length)
    {
        string text = new(_buffer, _start, length);
        _start += length;
        return text;
    }

    /// <summary>
    /// Passes <see cref="Text"/> through as content up to the first of <paramref name="markers"/>: true when a whole
    /// marker now starts <see cref="Text"/>; false when none is left or more text is needed (a possible start of a
    /// marker is held back).
    /// </summary>
    private protected bool ContentUntilMarker(ReadOnlySpan<string> markers, bool final)
    {
        var text = Text;
        if (text.IsEmpty)
            return false;
        int at = Markup.Find(text, 0, markers, final, out int marker);
        if (at < 0)
        {
            AddContent(Consume(text.Length));
            return false;
        }

        AddContent(Consume(at));
        return marker >= 0;
    }

    /// <summary>Content text, with whitespace next to calls held back (see the class summary).</summary>
    private protected void AddContent(ReadOnlySpan<char> text)
    {
        if (_afterCall)
        {
            text = text.TrimStart();
            if (text.IsEmpty)
                return;
            _afterCall = false;
        }
        int end = text.Length;
        while (end > 0 && char.IsWhiteSpace(text[end - 1]))
            end--;
        if (end > 0)
        {
            _content.Append(_heldWhitespace).Append(text[..end]);
            _heldWhitespace.Clear();
            _contentSeen = true;
        }
        _heldWhitespace.Append(text[end..]);
    }

    private protected void AddCall(string name, string arguments, string? id)
    {
        OnCall();
        _calls.Add(new ToolCall(string.IsNullOrEmpty(id) ? NewId() : id, name, arguments));
    }

    private protected void AddError(string rawText, string reason, string? name = null, string? id = null)
    {
        OnCall();
        string message = $"The tool call could not be parsed: {reason}. {FormatHint}";
        _errors.Add(new ToolCallError(string.IsNullOrEmpty(id) ? NewId() : id, name, rawText, reason, message));
    }

    /// <summary>Adds calls read from JSON; malformed ones are reported with <paramref name="rawText"/>, the markup around them.</summary>
    private protected void AddCalls(IReadOnlyList<CallCandidate> candidates, string rawText)
    {
        foreach (var candidate in candidates)
        {
            if (candidate.Problem is null)
                AddCall(candidate.Name!, candidate.Arguments!, candidate.Id);
            else
                AddError(rawText, candidate.Problem, candidate.Name, candidate.Id);
        }
    }

    private protected virtual string NewDefaultId() => "call_" + RandomNumberGenerator.GetString(IdAlphabet, 24);

    private protected static string RandomAlphanumeric(int length) => RandomNumberGenerator.GetString(IdAlphabet, length);

    private string NewId() => _newId?.Invoke() ?? NewDefaultId();

    private void OnCall()
    {
        // whitespace before the first call is dropped; later it separates the content before the call from the content after
        if (!_contentSeen)
            _heldWhitespace.Clear();
        _afterCall = true;
    }

    private void Run(bool final)
    {
        while (Step(final))
        {
        }
    }

    private void Append(string text)
    {
        if (_end + text.Length > _buffer.Length)
        {
            int pending = _end - _start;
            if (pending + text.Length > _buffer.Length / 2)
                Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, pending + text.Length));
            Array.Copy(_buffer, _start, _buffer, 0, pending);
            _start = 0;
            _end = pending;
        }
        text.CopyTo(_buffer.AsSpan(_end));
        _end += text.Length;
    }

    private ToolCallUpdate TakeUpdate()
    {
        if (_carriedHighSurrogate is { } carried)
        {
            _content.Insert(0, carried);
            _carriedHighSurrogate = null;
        }
        // a streamed chunk never ends inside a surrogate pair: each chunk stays valid UTF-16 on its own
        if (!_finished && _content.Length > 0 && char.IsHighSurrogate(_content[^1]))
        {
            _carriedHighSurrogate = _content[^1];
            _content.Length--;
        }
        string content = _content.ToString();
        _content.Clear();
        ToolCall[] calls = _calls.Count > _callsTaken ? _calls.GetRange(_callsTaken, _calls.Count - _callsTaken).ToArray() : [];
        ToolCallError[] errors = _errors.Count > _errorsTaken ? _errors.GetRange(_errorsTaken, _errors.Count - _errorsTaken).ToArray() : [];
        _callsTaken = _calls.Count;
        _errorsTaken = _errors.Count;
        return content.Length == 0 && calls.Length == 0 && errors.Length == 0 ? ToolCallUpdate.Empty : new ToolCallUpdate(content, calls, errors);
    }
}
