using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Tern.Kernels.Quant;

/// <summary>Vector pieces shared by the 8-bit activation quantizers; callers check Vector256.IsHardwareAccelerated.</summary>
internal static class Int8Rounding
{
    /// <summary>max |x| over 32 floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAbs(Vector256<float> v0, Vector256<float> v1, Vector256<float> v2, Vector256<float> v3)
    {
        var m = Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
        return HorizontalMax(m);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HorizontalMax(Vector256<float> m)
    {
        var h = Vector128.Max(m.GetLower(), m.GetUpper());
        h = Vector128.Max(h, Vector128.Shuffle(h, Vector128.Create(2, 3, 0, 1)));
        h = Vector128.Max(h, Vector128.Shuffle(h, Vector128.Create(1, 0, 3, 2)));
        return h.ToScalar();
    }

    /// <summary>C's roundf (half away from zero) of x·scale, narrowed to 32 int8 in element order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<sbyte> RoundAwayToInt8(Vector256<float> v0, Vector256<float> v1, Vector256<float> v2, Vector256<float> v3, float scale)
    {
        var s = Vector256.Create(scale);
        var i0 = Vector256.ConvertToInt32(RoundHalfAwayFromZero(v0 * s));
        var i1 = Vector256.ConvertToInt32(RoundHalfAwayFromZero(v1 * s));
        var i2 = Vector256.ConvertToInt32(RoundHalfAwayFromZero(v2 * s));
        var i3 = Vector256.ConvertToInt32(RoundHalfAwayFromZero(v3 * s));
        return Vector256.Narrow(Vector256.Narrow(i0, i1), Vector256.Narrow(i2, i3));
    }

    /// <summary>trunc(x + copysign(0.49999997, x)): equals roundf for every float (the largest float below 0.5 avoids double rounding up).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> RoundHalfAwayFromZero(Vector256<float> x)
    {
        var sign = x & Vector256.Create(-0.0f);
        var half = sign | Vector256.Create(0.49999997f);
        return Vector256.Truncate(x + half);
    }
}
