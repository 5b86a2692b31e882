using Tern.Runtime.Sampling;

namespace Tern.Runtime.Grammar;

/// <summary>
/// A grammar that applies only from a trigger on, as llama.cpp's lazy grammars: the text is free until it writes
/// <c>trigger</c> (a tool call's opening markup, such as <c>&lt;tool_call&gt;</c>); from there the grammar, which
/// starts with the trigger, constrains every token until it is complete with nothing more to follow (the call is
/// closed), and the text is free again until the next trigger. A token that would complete the trigger with bytes the
/// grammar cannot take after it is refused too, so a call never starts in a state the grammar cannot follow.
/// </summary>
public sealed class LazyGrammarConstraint : IGrammarConstraint
{
    private readonly GrammarConstraint _call;
    private readonly GrammarVocabulary _vocab;
    private readonly byte[] _trigger;
    private readonly List<byte> _tail = []; // the free text's last bytes, fewer than the trigger's
    private bool _inCall;

    public LazyGrammarConstraint(Grammar grammar, GrammarVocabulary vocabulary, string trigger)
    {
        ArgumentException.ThrowIfNullOrEmpty(trigger);
        _vocab = vocabulary ?? throw new ArgumentNullException(nameof(vocabulary));
        _call = new GrammarConstraint(grammar, vocabulary);
        _trigger = System.Text.Encoding.UTF8.GetBytes(trigger);
        if (!_call.Begins(_trigger))
            throw new GrammarException($"the grammar does not start with its trigger '{trigger}'");
    }

    /// <summary>Whether a call is being written (the grammar applies).</summary>
    public bool InCall => _inCall;

    /// <summary>A lazy grammar never ends the text: after a call, the model may write more or stop.</summary>
    public bool MustEnd => false;

    public bool Allows(int token) => _inCall ? _call.Allows(token) : FreeAllows(token);

    public void Restrict(Span<float> logits)
    {
        if (_inCall)
        {
            _call.Restrict(logits);
            return;
        }

        for (int t = 0; t < logits.Length; t++)
        {
            if (!FreeAllows(t))
                logits[t] = float.NegativeInfinity;
        }
    }

    public void Accept(int token)
    {
        if (_inCall)
        {
            _call.Accept(token);
            if (_call.MustEnd)
                _inCall = false; // the call is closed: free text again
            return;
        }

        if (_vocab.IsEndOfGeneration[token])
            return;
        var text = Joined(_vocab.Pieces[token]);
        int at = text.AsSpan().IndexOf(_trigger);
        _tail.Clear();
        if (at < 0)
        {
            _tail.AddRange(text.AsSpan(Math.Max(0, text.Length - (_trigger.Length - 1))));
            return;
        }

        _call.Reset();
        _call.AcceptBytes(text.AsSpan(at));
        _inCall = !_call.MustEnd;
    }

    /// <summary>Free text may take any token, unless it completes the trigger with bytes the grammar cannot follow.</summary>
    private bool FreeAllows(int token)
    {
        if (_vocab.IsEndOfGeneration[token])
            return true;
        var piece = _vocab.Pieces[token];
        if (piece.Length == 0 || (_tail.Count == 0 && piece.AsSpan().IndexOf(_trigger[0]) < 0))
            return true;
        var text = Joined(piece);
        int at = text.AsSpan().IndexOf(_trigger);
        return at < 0 || _call.Begins(text.AsSpan(at));
    }

    private byte[] Joined(byte[] piece)
    {
        if (_tail.Count == 0)
            return piece;
        var text = new byte[_tail.Count + piece.Length];
        _tail.CopyTo(text);
        piece.CopyTo(text, _tail.Count);
        return text;
    }
}
