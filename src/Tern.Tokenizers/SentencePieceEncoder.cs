using System.Text;

namespace Tern.Tokenizers;

/// <summary>
/// llama.cpp's SentencePiece tokenizer (<c>llm_tokenizer_spm</c>): start from single code points and keep
/// merging the adjacent pair whose concatenation is the highest-scoring token (ties: leftmost first); pieces
/// that are not tokens fall back to <c>&lt;0xNN&gt;</c> byte tokens.
/// </summary>
internal sealed class SentencePieceEncoder(Vocabulary vocab, int[] byteTokens, int unknownId)
{
    private struct Symbol
    {
        public int Start;
        public int Length; // UTF-16 units; 0 once merged into its left neighbour
        public int Prev;
        public int Next;
    }

    private readonly record struct Bigram(int Left, int Right, float Score, int Length);

    private sealed class BigramOrder : IComparer<Bigram>
    {
        public static readonly BigramOrder Instance = new();

        // the queue pops the smallest: highest score first, then the leftmost pair
        public int Compare(Bigram a, Bigram b)
        {
            int byScore = b.Score.CompareTo(a.Score);
            return byScore != 0 ? byScore : a.Left.CompareTo(b.Left);
        }
    }

    /// <summary>Tokenizes text whose spaces are already escaped as U+2581.</summary>
    public void Encode(string text, List<int> output)
    {
        if (text.Length == 0)
            return;
        var symbols = new List<Symbol>(text.Length);
        for (int i = 0; i < text.Length;)
        {
            int len = char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
            symbols.Add(new Symbol { Start = i, Length = len, Prev = symbols.Count - 1, Next = i + len == text.Length ? -1 : symbols.Count + 1 });
            i += len;
        }
        var syms = symbols.ToArray();
        var queue = new PriorityQueue<Bigram, Bigram>(BigramOrder.Instance);
        for (int i = 1; i < syms.Length; i++)
            TryAddBigram(i - 1, i);

        while (queue.TryDequeue(out var bigram, out _))
        {
            ref var left = ref syms[bigram.Left];
            ref var right = ref syms[bigram.Right];
            // stale: one side was merged away or has grown since the pair was queued
            if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != bigram.Length)
                continue;
            left.Length += right.Length;
            right.Length = 0;
            left.Next = right.Next;
            if (right.Next >= 0)
                syms[right.Next].Prev = bigram.Left;
            TryAddBigram(left.Prev, bigram.Left);
            TryAddBigram(bigram.Left, left.Next);
        }

        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i != -1; i = syms[i].Next)
        {
            var piece = text.AsSpan(syms[i].Start, syms[i].Length);
            if (vocab.TryGetId(piece, out int id))
            {
                output.Add(id);
                continue;
            }
            // Every merged piece is a token, so only a single code point can get here: emit its UTF-8 bytes.
            // (llama.cpp's rev_merge resegmentation therefore never triggers and is not needed.)
            int n = Encoding.UTF8.GetBytes(piece, utf8);
            for (int b = 0; b < n; b++)
            {
                int byteId = byteTokens[utf8[b]];
                if (byteId >= 0)
                    output.Add(byteId);
                else if (unknownId >= 0)
                    output.Add(unknownId);
            }
        }

        void TryAddBigram(int left, int right)
        {
            if (left == -1 || right == -1)
                return;
            int length = syms[left].Length + syms[right].Length;
            if (vocab.TryGetId(text.AsSpan(syms[left].Start, length), out int id))
                queue.Enqueue(new Bigram(left, right, vocab.Scores[id], length), new Bigram(left, right, vocab.Scores[id], length));
        }
    }
}
