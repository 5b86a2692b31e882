using System.Diagnostics;
using System.Threading.Channels;
using Tern.Models;
using Tern.Runtime.Grammar;
using Tern.Runtime.Sampling;
using Tern.Tokenizers;

namespace Tern.Runtime.Serving;

/// <summary>
/// One request inside the engine: waiting in the queue, then holding a slot, a KV sequence and its sampling and
/// text state until it finishes. Everything but <see cref="CancelRequested"/> is touched only by the engine loop.
/// </summary>
internal sealed class Sequence(string id, GenerationRequest request, int[] prompt)
{
    private volatile bool _cancelRequested;

    public string Id { get; } = id;
    public GenerationRequest Request { get; } = request;
    public int[] Prompt { get; } = prompt;

    public Channel<GenerationEvent> Events { get; } = Channel.CreateUnbounded<GenerationEvent>(
        new UnboundedChannelOptions { SingleWriter = true, SingleReader = false, AllowSynchronousContinuations = false });

    public CancellationTokenRegistration Registration { get; set; }
    public long SubmittedAt { get; } = Stopwatch.GetTimestamp();

    /// <summary>Set from the request's cancellation token (any thread); the loop acts on it at its next step.</summary>
    public bool CancelRequested
    {
        get => _cancelRequested;
        set => _cancelRequested = value;
    }

    // ---- from admission on ----
    public int Slot { get; set; } = -1;
    public SequenceState Kv { get; set; } = null!;

    /// <summary>Prompt and generated tokens; the last generated one is fed to the model at the next step.</summary>
    public List<int> Tokens { get; } = [];

    public int CachedTokens { get; set; }
    public int PromptProcessed { get; set; }
    public int Generated { get; set; }
    public SamplerChain Sampler { get; set; } = null!;
    public StopCondition Stop { get; set; } = null!;
    public IGrammarConstraint? Grammar { get; set; }
    public StopStringMatcher StopStrings { get; set; } = null!;
    public IncrementalDetokenizer Detokenizer { get; set; } = null!;
    public TokenLogprob[] Top { get; set; } = [];

    /// <summary>An embedding request's pooled hidden state so far (a sum for mean pooling).</summary>
    public float[]? Pooled { get; set; }
    public long AdmittedAt { get; set; }
    public long PromptDoneAt { get; set; }

    /// <summary>Prefix-cache keys of the full blocks of <see cref="Tokens"/> computed so far.</summary>
    public List<ulong> BlockHashes { get; } = [];

    /// <summary>The block whose recurrent-state checkpoint this sequence took last while decoding (replaced by the next).</summary>
    public ulong? DecodeCheckpoint { get; set; }

    /// <summary>Leading blocks already offered to the prefix cache.</summary>
    public int RegisteredBlocks { get; set; }

    public bool Prefilling => Kv.Length < Prompt.Length;

    public GenerationUsage Usage => new(Prompt.Length, CachedTokens, Generated);

    public GenerationTimings Timings(long now)
    {
        long admitted = AdmittedAt == 0 ? now : AdmittedAt;
        long promptDone = PromptDoneAt == 0 ? now : PromptDoneAt;
        return new GenerationTimings(Stopwatch.GetElapsedTime(SubmittedAt, admitted), Stopwatch.GetElapsedTime(admitted, promptDone),
            Stopwatch.GetElapsedTime(promptDone, now), PromptProcessed, Generated);
    }
}
