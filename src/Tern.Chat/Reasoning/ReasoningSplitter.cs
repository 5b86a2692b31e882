using System.Text;
using Tern.Chat.ToolCalls;

namespace Tern.Chat.Reasoning;

/// <summary>What one <see cref="ReasoningSplitter.Push"/> or <see cref="ReasoningSplitter.Finish"/> released.</summary>
public readonly record struct ReasoningUpdate(string Reasoning, string Content)
{
    public static ReasoningUpdate Empty { get; } = new("", "");

    public bool IsEmpty => Reasoning.Length == 0 && Content.Length == 0;

    public static ReasoningUpdate Join(ReasoningUpdate first, ReasoningUpdate second) =>
        new(first.Reasoning + second.Reasoning, first.Content + second.Content);
}

/// <summary>
/// Splits the reasoning block at the start of an assistant turn (<see cref="ReasoningMarkers"/>) from its content while the
/// text streams in, before any tool-call parsing: <see cref="Push"/> each delta, then <see cref="Finish"/> once. A block is
/// reasoning when the turn opens it (after whitespace) or when the prompt already opened it (an opening marker the model
/// writes again is then dropped); a block still open at the end of the turn is reasoning too. Text that may be the start of a marker is held back, so the result does not depend on
/// how the text was cut. By default the reasoning is trimmed and the markers and the whitespace after the block dropped,
/// as llama-server's <c>deepseek</c> reasoning format does; with <c>keepMarkup</c> the reasoning section is released
/// verbatim, so <c>Reasoning + Content</c> is the turn's text unchanged (for <c>--reasoning-format none</c>).
/// Not thread-safe: one splitter per turn.
/// </summary>
public sealed class ReasoningSplitter(ReasoningMarkers markers, bool openedByPrompt, bool keepMarkup = false)
{
    private enum State { Start, Inside, AfterClose, Content }

    private readonly StringBuilder _reasoning = new();
    private readonly StringBuilder _content = new();
    private readonly StringBuilder _heldWhitespace = new();
    private string _pending = "";
    private State _state = State.Start;
    private bool _reasoningSeen, _finished;

    /// <summary>Adds generated text; returns the reasoning and content that may be released now.</summary>
    public ReasoningUpdate Push(string textDelta)
    {
        ArgumentNullException.ThrowIfNull(textDelta);
        if (_finished)
            throw new InvalidOperationException("the splitter has finished; create a new one for the next turn");
        _pending += textDelta;
        Run(final: false);
        return Take();
    }

    /// <summary>Ends the turn: releases everything held back (an unterminated block is reasoning).</summary>
    public ReasoningUpdate Finish()
    {
        if (_finished)
            throw new InvalidOperationException("the splitter has already finished");
        Run(final: true);
        _finished = true;
        return Take();
    }

    /// <summary>Splits a whole turn.</summary>
    public static ReasoningUpdate Split(string text, ReasoningMarkers markers, bool openedByPrompt, bool keepMarkup = false)
    {
        var splitter = new ReasoningSplitter(markers, openedByPrompt, keepMarkup);
        return ReasoningUpdate.Join(splitter.Push(text), splitter.Finish());
    }

    private void Run(bool final)
    {
        while (_pending.Length > 0 && Step(final))
        {
        }
    }

    /// <summary>Advances over the pending text: true after changing state, false when more text is needed.</summary>
    private bool Step(bool final)
    {
        switch (_state)
        {
            case State.Start:
            {
                int i = Markup.SkipWhitespace(_pending);
                if (i < 0)
                {
                    if (final)
                        _state = openedByPrompt ? State.Inside : State.Content;
                    return final;
                }
                var match = Markup.MatchAt(_pending, i, markers.Open, final);
                if (match == MarkerMatch.Partial)
                    return false;
                if (match == MarkerMatch.None)
                {
                    _state = openedByPrompt ? State.Inside : State.Content;
                    return true;
                }
                AddMarkup(Consume(i + markers.Open.Length));
                _state = State.Inside;
                return true;
            }

            case State.Inside:
            {
                int at = Markup.Find(_pending, 0, [markers.Close], final, out int marker);
                if (at < 0)
                {
                    AddReasoning(Consume(_pending.Length));
                    return false;
                }
                AddReasoning(Consume(at));
                if (marker < 0)
                    return false; // a possible start of the closing marker: wait for more
                AddMarkup(Consume(markers.Close.Length));
                _state = State.AfterClose;
                return true;
            }

            case State.AfterClose:
            {
                int i = Markup.SkipWhitespace(_pending);
                AddMarkup(Consume(i < 0 ? _pending.Length : i));
                if (i < 0)
                    return false;
                _state = State.Content;
                return true;
            }

            default:
                _content.Append(Consume(_pending.Length));
                return false;
        }
    }

    private string Consume(int length)
    {
        string text = _pending[..length];
        _pending = _pending[length..];
        return text;
    }

    /// <summary>Markers and the whitespace around them: part of the reasoning section when it is kept verbatim, else dropped.</summary>
    private void AddMarkup(string text)
    {
        if (keepMarkup)
            _reasoning.Append(text);
    }

    /// <summary>Reasoning text, trimmed at both ends unless kept verbatim (trailing whitespace is held until more follows).</summary>
    private void AddReasoning(ReadOnlySpan<char> text)
    {
        if (keepMarkup)
        {
            _reasoning.Append(text);
            return;
        }
        if (!_reasoningSeen)
            text = text.TrimStart();
        var trimmed = text.TrimEnd();
        if (!trimmed.IsEmpty)
        {
            _reasoning.Append(_heldWhitespace).Append(trimmed);
            _heldWhitespace.Clear();
            _reasoningSeen = true;
        }
        _heldWhitespace.Append(text[trimmed.Length..]);
    }

    private ReasoningUpdate Take()
    {
        if (_reasoning.Length == 0 && _content.Length == 0)
            return ReasoningUpdate.Empty;
        var update = new ReasoningUpdate(_reasoning.ToString(), _content.ToString());
        _reasoning.Clear();
        _content.Clear();
        return update;
    }
}
