using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Tern.Kernels;

/// <summary>
/// The tokens of one Gated DeltaNet head of one sequence, as they lie in the layer's buffers: token t's query at
/// Q[t·Stride..][..Dk], key at K[t·Stride..][..Dk], value at V[t·Stride..][..Dv] (q, k, v are slices of the conv
/// output rows, so they share a stride), its decay g (log space, ≤ 0) at G[t·GateStride] and its beta at
/// Beta[t·GateStride]; the head's output goes to Output[t·OutputStride..][..Dv]. q and k are L2-normalised and
/// not yet scaled: the kernels scale by 1/√Dk.
/// </summary>
public readonly ref struct DeltaNetHead(
    int dk, int dv,
    ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, int stride,
    ReadOnlySpan<float> g, ReadOnlySpan<float> beta, int gateStride,
    Span<float> output, int outputStride)
{
    public int Dk { get; } = dk;
    public int Dv { get; } = dv;
    public ReadOnlySpan<float> Q { get; } = q;
    public ReadOnlySpan<float> K { get; } = k;
    public ReadOnlySpan<float> V { get; } = v;
    public int Stride { get; } = stride;
    public ReadOnlySpan<float> G { get; } = g;
    public ReadOnlySpan<float> Beta { get; } = beta;
    public int GateStride { get; } = gateStride;
    public Span<float> Output { get; } = output;
    public int OutputStride { get; } = outputStride;

    internal ReadOnlySpan<float> QueryOf(int t) => Q.Slice(t * Stride, Dk);
    internal ReadOnlySpan<float> KeyOf(int t) => K.Slice(t * Stride, Dk);
    internal ReadOnlySpan<float> ValueOf(int t) => V.Slice(t * Stride, Dv);
    internal float DecayOf(int t) => G[t * GateStride];
    internal float BetaOf(int t) => Beta[t * GateStride];
    internal Span<float> OutputOf(int t) => Output.Slice(t * OutputStride, Dv);
}

/// <summary>
/// The gated delta rule of qwen35moe's linear-attention layers (ggml_gated_delta_net). Per head the state M is
/// [Dv rows][Dk] (ggml's layout: s[j·Dv + i] = S[i][j], so row j, one value dimension, is contiguous over the key
/// dimensions). Per token: M ← e^g·M; δ = β·(v − M·k); M ← M + δ ⊗ k; o = (M·q)/√Dk.
/// <see cref="Step"/> and <see cref="Recurrent"/> run it token by token (decoding); <see cref="Chunked"/> runs a
/// prompt in chunks of <see cref="ChunkSize"/> tokens (the WY form llama.cpp's chunked graph uses), with the same
/// outputs and final state within float rounding.
/// </summary>
public static class DeltaNet
{
    /// <summary>Tokens per chunk of <see cref="Chunked"/>, as llama.cpp's chunked path.</summary>
    public const int ChunkSize = 64;

    /// <summary>Per-head log decay g = softplus(alpha + dtBias) · a, with a = ssm_a (−exp(A_log), stored so in GGUF).</summary>
    public static void Decay(ReadOnlySpan<float> alpha, ReadOnlySpan<float> dtBias, ReadOnlySpan<float> a, Span<float> g)
    {
        if (dtBias.Length != alpha.Length || a.Length != alpha.Length || g.Length < alpha.Length)
            throw new ArgumentException($"DeltaNet.Decay: alpha {alpha.Length}, dt bias {dtBias.Length}, a {a.Length}, g {g.Length}");
        for (int h = 0; h < alpha.Length; h++)
            g[h] = Activation.Softplus(alpha[h] + dtBias[h]) * a[h];
    }

    /// <summary>One token of one head: updates <paramref name="state"/> ([v.Length rows][q.Length]) and writes the head's output.</summary>
    public static void Step(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, float g, float beta,
        Span<float> state, Span<float> output)
    {
        int dk = CheckStep(q, k, v, state, output);
        if (!Vector256.IsHardwareAccelerated || dk % Vector256<float>.Count != 0)
        {
            StepCore(q, k, v, g, beta, state, output);
            return;
        }

        float decay = MathF.Exp(g);
        float scale = 1f / MathF.Sqrt(dk);
        ref float qr = ref MemoryMarshal.GetReference(q);
        ref float kr = ref MemoryMarshal.GetReference(k);
        for (int j = 0; j < v.Length; j++)
        {
            ref float row = ref state[j * dk];
            // One pass decays the row and dots it with k, a second adds δ·k and dots with q; the row stays in L1.
            var acc = Vector256<float>.Zero;
            for (int i = 0; i < dk; i += Vector256<float>.Count)
            {
                var m = Vector256.LoadUnsafe(ref row, (nuint)i) * decay;
                m.StoreUnsafe(ref row, (nuint)i);
                acc += m * Vector256.LoadUnsafe(ref kr, (nuint)i);
            }

            float delta = (v[j] - Vector256.Sum(acc)) * beta;
            acc = Vector256<float>.Zero;
            for (int i = 0; i < dk; i += Vector256<float>.Count)
            {
                var m = Vector256.LoadUnsafe(ref row, (nuint)i) + Vector256.LoadUnsafe(ref kr, (nuint)i) * delta;
                m.StoreUnsafe(ref row, (nuint)i);
                acc += m * Vector256.LoadUnsafe(ref qr, (nuint)i);
            }

            output[j] = Vector256.Sum(acc) * scale;
        }
    }

    /// <summary>Plain twin of <see cref="Step"/>, in ggml's order: decay all, then the deltas, the update, the outputs.</summary>
    public static void StepScalar(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, float g, float beta,
        Span<float> state, Span<float> output)
    {
        CheckStep(q, k, v, state, output);
        StepCore(q, k, v, g, beta, state, output);
    }

    private static void StepCore(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, float g, float beta,
        Span<float> state, Span<float> output)
    {
        int dk = q.Length, dv = v.Length;
        float decay = MathF.Exp(g);
        float scale = 1f / MathF.Sqrt(dk);
        for (int e = 0; e < dk * dv; e++)
            state[e] *= decay;
        Span<float> delta = dv <= 256 ? stackalloc float[dv] : new float[dv];
        for (int j = 0; j < dv; j++)
            delta[j] = (v[j] - DotScalar(state.Slice(j * dk, dk), k)) * beta;
        for (int j = 0; j < dv; j++)
            for (int i = 0; i < dk; i++)
                state[j * dk + i] += k[i] * delta[j];
        for (int j = 0; j < dv; j++)
            output[j] = DotScalar(state.Slice(j * dk, dk), q) * scale;
    }

    /// <summary>n tokens of one head, one <see cref="Step"/> each: the reference the chunked form must equal.</summary>
    public static void Recurrent(int n, in DeltaNetHead head, Span<float> state)
    {
        CheckHead(n, head, state);
        for (int t = 0; t < n; t++)
            Step(head.QueryOf(t), head.KeyOf(t), head.ValueOf(t), head.DecayOf(t), head.BetaOf(t), state, head.OutputOf(t));
    }

    /// <summary>Floats of scratch <see cref="Chunked"/> needs for a head of <paramref name="dv"/> value dimensions.</summary>
    public static int ChunkScratchLength(int dv) => ChunkSize + 2 * ChunkSize * ChunkSize + ChunkSize * dv;

    /// <summary>
    /// n tokens of one head in chunks of <see cref="ChunkSize"/>: within a chunk, with γₜ = e^(g₀+…+gₜ),
    /// δₜ = βₜ(vₜ − γₜ·M₀kₜ) − Σ_{s&lt;t} βₜ·(γₜ/γₛ)(kₜ·kₛ)·δₛ (a triangular solve),
    /// oₜ = (γₜ·M₀qₜ + Σ_{s≤t} (γₜ/γₛ)(qₜ·kₛ)·δₛ)/√Dk and M ← γ_last·M₀ + Σₛ (γ_last/γₛ)·δₛ ⊗ kₛ.
    /// Equal to <see cref="Recurrent"/> within float rounding. <paramref name="scratch"/>: <see cref="ChunkScratchLength"/> floats.
    /// </summary>
    public static void Chunked(int n, in DeltaNetHead head, Span<float> state, Span<float> scratch) =>
        ChunkedCore(n, head, state, scratch, vector: true);

    /// <summary>Plain twin of <see cref="Chunked"/>: the same steps with scalar dot products and updates.</summary>
    public static void ChunkedScalar(int n, in DeltaNetHead head, Span<float> state, Span<float> scratch) =>
        ChunkedCore(n, head, state, scratch, vector: false);

    private static void ChunkedCore(int n, in DeltaNetHead head, Span<float> state, Span<float> scratch, bool vector)
    {
        CheckHead(n, head, state);
        int dk = head.Dk, dv = head.Dv;
        if (scratch.Length < ChunkScratchLength(dv))
            throw new ArgumentException($"DeltaNet.Chunked: scratch holds {scratch.Length} floats, needs {ChunkScratchLength(dv)}");
        const int C = ChunkSize;
        var cumulative = scratch[..C];                     // g₀ + … + gₜ within the chunk
        var keyKey = scratch.Slice(C, C * C);              // [t][s], s < t: βₜ·(γₜ/γₛ)(kₜ·kₛ)
        var queryKey = scratch.Slice(C + C * C, C * C);    // [t][s], s ≤ t: (γₜ/γₛ)(qₜ·kₛ)/√Dk
        var deltas = scratch.Slice(C + 2 * C * C, C * dv); // [t][Dv]
        float scale = 1f / MathF.Sqrt(dk);

        for (int start = 0; start < n; start += C)
        {
            int m = Math.Min(C, n - start);
            float sum = 0f;
            for (int t = 0; t < m; t++)
                cumulative[t] = sum += head.DecayOf(start + t);

            for (int t = 0; t < m; t++)
            {
                var kt = head.KeyOf(start + t);
                var qt = head.QueryOf(start + t);
                float betaT = head.BetaOf(start + t);
                for (int s = 0; s <= t; s++)
                {
                    float decay = MathF.Exp(cumulative[t] - cumulative[s]);
                    var ks = head.KeyOf(start + s);
                    if (s < t)
                        keyKey[t * C + s] = betaT * decay * Dot(kt, ks, vector);
                    queryKey[t * C + s] = decay * Dot(qt, ks, vector) * scale;
                }
            }

            // δₜ, then oₜ from the state at the chunk's start.
            for (int t = 0; t < m; t++)
            {
                var kt = head.KeyOf(start + t);
                var qt = head.QueryOf(start + t);
                var vt = head.ValueOf(start + t);
                var dt = deltas.Slice(t * dv, dv);
                var ot = head.OutputOf(start + t);
                float gamma = MathF.Exp(cumulative[t]);
                float betaT = head.BetaOf(start + t);
                for (int j = 0; j < dv; j++)
                {
                    var row = state.Slice(j * dk, dk);
                    dt[j] = betaT * (vt[j] - gamma * Dot(row, kt, vector));
                    ot[j] = gamma * Dot(row, qt, vector) * scale;
                }

                for (int s = 0; s < t; s++)
                    AddScaled(dt, deltas.Slice(s * dv, dv), -keyKey[t * C + s], vector);
                for (int s = 0; s <= t; s++)
                    AddScaled(ot, deltas.Slice(s * dv, dv), queryKey[t * C + s], vector);
            }

            // M ← γ_last·M₀ + Σₛ (γ_last/γₛ)·δₛ ⊗ kₛ, row by row.
            float last = cumulative[m - 1];
            float gammaLast = MathF.Exp(last);
            for (int s = 0; s < m; s++)
                cumulative[s] = MathF.Exp(last - cumulative[s]); // now the weight of token s in the final state
            for (int j = 0; j < dv; j++)
            {
                var row = state.Slice(j * dk, dk);
                Scale(row, gammaLast);
                for (int s = 0; s < m; s++)
                    AddScaled(row, head.KeyOf(start + s), cumulative[s] * deltas[s * dv + j], vector);
            }
        }
    }

    private static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b, bool vector)
    {
        if (!vector || !Vector256.IsHardwareAccelerated)
            return DotScalar(a, b);
        int end = a.Length - a.Length % Vector256<float>.Count;
        ref float ar = ref MemoryMarshal.GetReference(a);
        ref float br = ref MemoryMarshal.GetReference(b);
        var acc = Vector256<float>.Zero;
        for (int i = 0; i < end; i += Vector256<float>.Count)
            acc += Vector256.LoadUnsafe(ref ar, (nuint)i) * Vector256.LoadUnsafe(ref br, (nuint)i);
        float sum = Vector256.Sum(acc);
        for (int i = end; i < a.Length; i++)
            sum += a[i] * b[i];
        return sum;
    }

    private static float DotScalar(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        float sum = 0f;
        for (int i = 0; i < a.Length; i++)
            sum += a[i] * b[i];
        return sum;
    }

    /// <summary>y += a·x.</summary>
    private static void AddScaled(Span<float> y, ReadOnlySpan<float> x, float a, bool vector)
    {
        int end = 0;
        if (vector && Vector256.IsHardwareAccelerated)
        {
            end = y.Length - y.Length % Vector256<float>.Count;
            ref float yr = ref MemoryMarshal.GetReference(y);
            ref float xr = ref MemoryMarshal.GetReference(x);
            for (int i = 0; i < end; i += Vector256<float>.Count)
                (Vector256.LoadUnsafe(ref yr, (nuint)i) + Vector256.LoadUnsafe(ref xr, (nuint)i) * a).StoreUnsafe(ref yr, (nuint)i);
        }

        for (int i = end; i < y.Length; i++)
            y[i] += x[i] * a;
    }

    private static void Scale(Span<float> y, float a)
    {
        for (int i = 0; i < y.Length; i++)
            y[i] *= a;
    }

    private static int CheckStep(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, ReadOnlySpan<float> state, ReadOnlySpan<float> output)
    {
        if (q.Length == 0 || k.Length != q.Length || v.Length == 0 || state.Length != q.Length * v.Length || output.Length < v.Length)
            throw new ArgumentException(
                $"DeltaNet.Step: q {q.Length}, k {k.Length}, v {v.Length}, state {state.Length}, output {output.Length}: " +
                "k must match q, the state be [v, q] and the output hold v");
        return q.Length;
    }

    private static void CheckHead(int n, in DeltaNetHead head, ReadOnlySpan<float> state)
    {
        int dk = head.Dk, dv = head.Dv;
        long last = n - 1L;
        bool fits = n >= 0 && dk > 0 && dv > 0 && state.Length == (long)dk * dv
            && (n == 0 || (head.Stride >= 0 && head.GateStride >= 0 && head.OutputStride >= dv
                && head.Q.Length >= last * head.Stride + dk && head.K.Length >= last * head.Stride + dk
                && head.V.Length >= last * head.Stride + dv
                && head.G.Length > last * head.GateStride && head.Beta.Length > last * head.GateStride
                && head.Output.Length >= last * head.OutputStride + dv));
        if (!fits)
            throw new ArgumentException(
                $"DeltaNet: {n} tokens of a head of {dk}x{dv} (state {state.Length}) do not fit q {head.Q.Length}, k {head.K.Length}, " +
                $"v {head.V.Length} at stride {head.Stride}, g {head.G.Length}, beta {head.Beta.Length} at stride {head.GateStride}, " +
                $"output {head.Output.Length} at stride {head.OutputStride}");
    }
}
