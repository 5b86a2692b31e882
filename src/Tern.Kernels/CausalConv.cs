using System.Runtime.Intrinsics;

namespace Tern.Kernels;

/// <summary>
/// Depthwise causal 1-D convolution with a carried state (ggml's ssm_conv, as qwen35moe's Gated DeltaNet uses it):
/// each channel sees its own last <c>kernel</c> inputs, the oldest <c>kernel − 1</c> of them from the state that
/// the previous call left. No bias. A prompt in one call equals the same tokens one call each.
/// </summary>
public static class CausalConv
{
    /// <summary>
    /// The weight in the layout <see cref="Run"/> takes, [kernel][channels] (tap-major), from GGUF's ssm_conv1d
    /// [channels][kernel] (ggml ne = [kernel, channels]: a channel's taps contiguous). Done once at load.
    /// </summary>
    public static float[] TapMajor(ReadOnlySpan<float> channelMajor, int kernel)
    {
        if (kernel < 1 || channelMajor.Length % kernel != 0)
            throw new ArgumentException($"CausalConv: weight holds {channelMajor.Length} floats, not rows of kernel {kernel}");
        int channels = channelMajor.Length / kernel;
        var tapMajor = new float[channelMajor.Length];
        for (int c = 0; c < channels; c++)
            for (int i = 0; i < kernel; i++)
                tapMajor[i * channels + c] = channelMajor[c * kernel + i];
        return tapMajor;
    }

    /// <summary>
    /// y[t][c] = Σᵢ in[t + i][c] · weight[i][c] (i ascending, in float, as ggml sums), where in = the state's
    /// kernel − 1 rows (oldest first) followed by the n rows of x. x and y are [n, channels] and must not overlap;
    /// weight is [kernel, channels] (<see cref="TapMajor"/>); state is [kernel − 1, channels] and is left holding
    /// the last kernel − 1 rows of in. Vectorized over channels; element for element equal to <see cref="RunScalar"/>.
    /// </summary>
    public static void Run(int n, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> state, Span<float> y)
    {
        int channels = Check(n, x, weight, state, y);
        int kernel = weight.Length / channels;
        int width = Vector256<float>.Count;
        int vectorEnd = Vector256.IsHardwareAccelerated ? channels - channels % width : 0;
        for (int t = 0; t < n; t++)
        {
            var yt = y.Slice(t * channels, channels);
            yt.Clear();
            for (int i = 0; i < kernel; i++)
            {
                var input = Input(x, state, channels, kernel, t + i);
                var tap = weight.Slice(i * channels, channels);
                for (int c = 0; c < vectorEnd; c += width)
                    (Vector256.Create(yt.Slice(c, width)) + Vector256.Create(input.Slice(c, width)) * Vector256.Create(tap.Slice(c, width))).CopyTo(yt[c..]);
                for (int c = vectorEnd; c < channels; c++)
                    yt[c] += input[c] * tap[c];
            }
        }

        Advance(n, x, state, channels, kernel);
    }

    /// <summary>Plain twin of <see cref="Run"/>: the same sums, one element at a time.</summary>
    public static void RunScalar(int n, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> state, Span<float> y)
    {
        int channels = Check(n, x, weight, state, y);
        int kernel = weight.Length / channels;
        for (int t = 0; t < n; t++)
            for (int c = 0; c < channels; c++)
            {
                float sum = 0f;
                for (int i = 0; i < kernel; i++)
                    sum += Input(x, state, channels, kernel, t + i)[c] * weight[i * channels + c];
                y[t * channels + c] = sum;
            }

        Advance(n, x, state, channels, kernel);
    }

    /// <summary>Row m of the convolution's input: the state's rows, then x's.</summary>
    private static ReadOnlySpan<float> Input(ReadOnlySpan<float> x, ReadOnlySpan<float> state, int channels, int kernel, int m) =>
        m < kernel - 1 ? state.Slice(m * channels, channels) : x.Slice((m - (kernel - 1)) * channels, channels);

    /// <summary>The state becomes the last kernel − 1 rows of the input. Ascending rows read only rows not yet written.</summary>
    private static void Advance(int n, ReadOnlySpan<float> x, Span<float> state, int channels, int kernel)
    {
        for (int r = 0; r < kernel - 1; r++)
            Input(x, state, channels, kernel, n + r).CopyTo(state.Slice(r * channels, channels));
    }

    /// <summary>The channel count, from weight [kernel, channels] and state [kernel − 1, channels].</summary>
    private static int Check(int n, ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> state, ReadOnlySpan<float> y)
    {
        int channels = weight.Length - state.Length;
        if (n < 0 || channels <= 0 || weight.Length % channels != 0 || x.Length != (long)n * channels || y.Length < x.Length)
            throw new ArgumentException(
                $"CausalConv: {n} tokens, x {x.Length}, weight {weight.Length}, state {state.Length}, y {y.Length} floats do not fit " +
                "x [n, channels], weight [kernel, channels], state [kernel - 1, channels], y [n, channels]");
        return channels;
    }
}
