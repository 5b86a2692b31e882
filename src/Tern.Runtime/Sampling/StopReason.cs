namespace Tern.Runtime.Sampling;

/// <summary>Why generation of a sequence ended (OpenAI maps EndOfGeneration and StopString to "stop", Length to "length").</summary>
public enum StopReason
{
    /// <summary>Not stopped.</summary>
    None,

    /// <summary>The model produced an end-of-generation token.</summary>
    EndOfGeneration,

    /// <summary>The token limit was reached.</summary>
    Length,

    /// <summary>The text reached one of the requested stop strings.</summary>
    StopString,

    /// <summary>The text is a whole sentence of the request's grammar and nothing more may follow it.</summary>
    GrammarComplete,
}
