using System.Runtime.InteropServices;

namespace Tern.Runtime.Sampling;

/// <summary>
/// A token id and its logit packed into one ulong whose ascending order is descending logit, then ascending
/// id. Candidate lists therefore sort as plain integers (fast, allocation-free, deterministic on ties).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal readonly struct Candidate
{
    private readonly ulong _key;

    public Candidate(int id, float logit) => _key = ((ulong)~SortableBits(logit) << 32) | (uint)id;

    public int Id => (int)(uint)_key;

    public float Logit
    {
        get
        {
            uint sortable = ~(uint)(_key >> 32);
            uint bits = (sortable & 0x8000_0000u) != 0 ? sortable & 0x7FFF_FFFFu : ~sortable;
            return BitConverter.UInt32BitsToSingle(bits);
        }
    }

    /// <summary>True when this candidate ranks before <paramref name="other"/> (higher logit, or same logit and lower id).</summary>
    public bool IsBetterThan(Candidate other) => _key < other._key;

    /// <summary>Sorts best first: descending logit, ties by ascending id.</summary>
    public static void Sort(Span<Candidate> candidates) => MemoryMarshal.Cast<Candidate, ulong>(candidates).Sort();

    public override string ToString() => $"{Id}:{Logit}";

    // Maps a float to an unsigned int with the same order: flip all bits of negatives, set the sign of positives.
    private static uint SortableBits(float value)
    {
        if (value == 0)
            value = 0; // -0 and +0 are the same logit: a tie, broken by id
        uint bits = BitConverter.SingleToUInt32Bits(value);
        return (bits & 0x8000_0000u) != 0 ? ~bits : bits | 0x8000_0000u;
    }
}
