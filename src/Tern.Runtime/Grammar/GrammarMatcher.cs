using System.Text;

namespace Tern.Runtime.Grammar;

/// <summary>Follows a grammar over text: what has been accepted so far, whether it is a whole sentence, and whether more may follow. Not thread-safe.</summary>
public sealed class GrammarMatcher
{
    private readonly GrammarStepper _stepper;

    public GrammarMatcher(Grammar grammar)
    {
        ArgumentNullException.ThrowIfNull(grammar);
        _stepper = new GrammarStepper(grammar);
        State = _stepper.Initial();
    }

    internal GrammarPosition State { get; private set; }

    /// <summary>The text accepted so far is a whole sentence of the grammar.</summary>
    public bool IsComplete => State.IsComplete;

    /// <summary>Some character may still follow.</summary>
    public bool CanContinue => State.CanContinue;

    /// <summary>Accepts UTF-8 bytes (a character may be split between calls); false, and nothing changes, when the grammar refuses them.</summary>
    public bool Accept(ReadOnlySpan<byte> utf8)
    {
        if (_stepper.Step(State, utf8) is not { } next)
            return false;
        State = next;
        return true;
    }

    public bool Accept(string text) => Accept(Encoding.UTF8.GetBytes(text));

    /// <summary>Whether the whole of <paramref name="text"/> is a sentence of the grammar.</summary>
    public static bool Matches(Grammar grammar, string text)
    {
        var m = new GrammarMatcher(grammar);
        return m.Accept(text) && m.IsComplete;
    }
}
