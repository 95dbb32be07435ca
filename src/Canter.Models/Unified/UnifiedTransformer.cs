using Canter.Models.Blocks;
using Canter.Tensors;
using Canter.Tensors.Nn;

namespace Canter.Models.Unified;

/// <summary>One batch of sequences: text rows, visual and audio tokens, each token's flow time, and the attention groups.</summary>
/// <param name="TextRows">(B * L) embedding rows.</param>
/// <param name="Visual">(B, Nv, Dv) reference, source-video (edit) and video tokens.</param>
/// <param name="Audio">(B, Na, Da) audio tokens.</param>
/// <param name="Times">(B * N) flow time of every token; 0 is clean.</param>
/// <param name="Segments">(B * N) attention groups (see <see cref="SequenceLayout.Segments"/>).</param>
public sealed record SequenceBatch(int[] TextRows, Tensor Visual, Tensor Audio, float[] Times, int[] Segments)
{
    public int Batch => Visual.Dim(0);
}

/// <summary>
/// The unified single-stream transformer: text, reference, video and audio tokens in one sequence through one stack of
/// DiT blocks with full self-attention. Each token gets its kind's learned vector and its own flow time's adaLN
/// modulation; positions are rotary in a space-time shared by picture and sound. With <see cref="UnifiedConfig.TextPool"/>
/// the prompt also enters every token's modulation as one pooled vector (a global condition, as a class label in DiT),
/// so what the whole frame shows (background, light, colours) does not wait for attention to find the text. It predicts the flow velocity of the
/// video and audio tokens only (the loss keeps the noisy ones): references and an edit's source video are conditions
/// that are read, never predicted.
/// </summary>
public sealed class UnifiedTransformer : Module
{
    private const int TimeFeatures = 256;

    public UnifiedTransformer(UnifiedConfig config, ulong seed = 0)
    {
        Config = config.Validate();
        int c = config.Width;
        TextTable = RegisterParameter("text_embedding", Tensor.Randn([config.TextRows, c], seed * 100 + 1, std: 0.02f));
        KindTable = RegisterParameter("kind_embedding", Tensor.Randn([5, c], seed * 100 + 2, std: 0.02f));
        VisualIn = RegisterModule("visual_in", new Linear(config.VisualTokenSize, c, seed: seed * 100 + 3));
        AudioIn = RegisterModule("audio_in", new Linear(config.AudioLatentChannels, c, seed: seed * 100 + 4));
        Time1 = RegisterModule("time_mlp.0", new Linear(TimeFeatures, c, seed: seed * 100 + 5));
        Time2 = RegisterModule("time_mlp.2", new Linear(c, 8 * c, seed: seed * 100 + 6));
        Stack = RegisterModule("stack", new DitStack(config.Stack, seed * 100 + 7));
        VisualOut = RegisterModule("visual_out", new Linear(c, config.VisualTokenSize, seed: seed * 100 + 8));
        AudioOut = RegisterModule("audio_out", new Linear(c, config.AudioLatentChannels, seed: seed * 100 + 9));
        // start as the zero velocity predictor, as DiT does, so early steps do not fight random outputs
        VisualOut.Weight.Backend.Fill(VisualOut.Weight, 0f);
        AudioOut.Weight.Backend.Fill(AudioOut.Weight, 0f);
        if (config.TextPool)
        {
            TextPool1 = RegisterModule("text_pool.0", new Linear(c, c, seed: seed * 100 + 10));
            TextPool2 = RegisterModule("text_pool.2", new Linear(c, c, seed: seed * 100 + 11));
            // starts as no pooled text at all: a model given these tensors fresh (--init from a model without them) predicts as before
            TextPool2.Weight.Backend.Fill(TextPool2.Weight, 0f);
            TextPool2.Weight.Backend.Fill(TextPool2.Bias!, 0f);
        }
    }

    public UnifiedConfig Config { get; }
    public Tensor TextTable { get; }
    public Tensor KindTable { get; }
    public Linear VisualIn { get; }
    public Linear AudioIn { get; }
    public Linear Time1 { get; }
    public Linear Time2 { get; }
    public DitStack Stack { get; }
    public Linear VisualOut { get; }
    public Linear AudioOut { get; }

    /// <summary>The pooled-text MLP (<see cref="UnifiedConfig.TextPool"/>): C -> C, SiLU, C -> C; null without it.</summary>
    public Linear? TextPool1 { get; }
    public Linear? TextPool2 { get; }

    /// <summary>Sequences -> velocity predictions for the video (B, Nvideo, Dv) and audio (B, Na, Da) tokens.</summary>
    public (Tensor Visual, Tensor Audio) Forward(SequenceBatch batch, SequenceLayout layout, RopeTable rope)
    {
        int b = batch.Batch, n = layout.Count, c = Config.Width, l = layout.TextCount;
        if (batch.Visual.Rank != 3 || batch.Visual.Dim(1) != layout.VisualCount || batch.Visual.Dim(2) != Config.VisualTokenSize)
            throw new ArgumentException($"visual tokens {batch.Visual.ShapeString} do not fit the layout ({layout.VisualCount} x {Config.VisualTokenSize})");
        if (batch.Audio.Rank != 3 || batch.Audio.Dim(0) != b || batch.Audio.Dim(1) != layout.AudioCount || batch.Audio.Dim(2) != Config.AudioLatentChannels)
            throw new ArgumentException($"audio tokens {batch.Audio.ShapeString} do not fit the layout ({layout.AudioCount} x {Config.AudioLatentChannels})");
        if (batch.TextRows.Length != b * l || batch.Times.Length != b * n || batch.Segments.Length != b * n)
            throw new ArgumentException("text rows, times and segments must cover every token of every item");

        var text = Ops.Embedding(TextTable, batch.TextRows, [b, l]);                   // (B, L, C)
        var visual = VisualIn.Forward(batch.Visual);                                   // (B, Nv, C)
        var audio = AudioIn.Forward(batch.Audio);                                      // (B, Na, C)
        var x = Ops.Concat([text, visual, audio], 1);                                  // (B, N, C)
        var kinds = Ops.Embedding(KindTable, layout.Kinds.Select(k => (int)k).ToArray(), [n, 1]); // (N, 1, C)
        x = Ops.Add(x, Ops.Reshape(kinds, n, c));                                      // (B, N, C)

        var pooled = TextPool1 is null ? null : PooledText(text, batch.Segments, b, n, l); // (B, C) or none
        var mod = Modulation(batch.Times, b, n, pooled);                                // (B, N, 8, C)
        var parts = Ops.Split(mod, 2, 6, 2);
        var e = parts[0];                                                              // (B, N, 6, C) for the blocks
        var final = Ops.Split(parts[1], 2, 1, 1);                                      // final shift, scale

        x = Stack.ForwardMasked(x, e, rope, batch.Segments);                           // (B, N, C)
        var h = Ops.ModulatedLayerNorm(x, Ops.Squeeze(final[0], 2), Ops.Squeeze(final[1], 2), Config.Stack.NormEps);
        var split = Ops.Split(h, 1, l, layout.VideoOffset, layout.VideoCount, layout.AudioCount); // text, conditions, video, audio
        return (VisualOut.Forward(split[2]), AudioOut.Forward(split[3]));
    }

    /// <summary>
    /// The pooled prompt of each item through the pooled-text MLP, (B, C): the mean of the embedding rows of the text
    /// positions its segments keep (an empty prompt pools to zeros).
    /// </summary>
    /// <param name="text">(B, L, C) embedding rows of the text positions.</param>
    private Tensor PooledText(Tensor text, int[] segments, int b, int n, int l)
    {
        var weights = new float[b * l];                                                // (B, L, 1): 1 / length on the kept positions
        for (int i = 0; i < b; i++)
        {
            int length = 0;
            for (int k = 0; k < l; k++) if (segments[i * n + k] == 0) length++;
            for (int k = 0; k < l; k++) if (segments[i * n + k] == 0) weights[i * l + k] = 1f / length;
        }
        var w = Tensor.FromArray(weights, [b, l, 1], TextTable.Backend);
        var mean = Ops.Sum(Ops.Mul(text, w), 1);                                       // (B, C)
        return TextPool2!.Forward(Ops.Silu(TextPool1!.Forward(mean)));                 // (B, C)
    }

    /// <summary>
    /// The time MLP of every token, (B, N, 8, C): six modulation vectors per block and the final shift and scale. Tokens
    /// share a few flow times (clean conditions at 0, the noisy ones at the step's t), so the MLP runs once per distinct
    /// time and each token takes its row; gradients add up over the tokens of a time. With a pooled prompt per item
    /// (<paramref name="text"/>, (B, C)) it is added to the hidden layer, and the MLP's second layer runs once per distinct
    /// (item, time) pair.
    /// </summary>
    public Tensor Modulation(float[] times, int b, int n, Tensor? text = null)
    {
        if (times.Length != b * n) throw new ArgumentException($"{times.Length} flow times for {b} x {n} tokens");
        if (text is not null && (text.Rank != 2 || text.Dim(0) != b || text.Dim(1) != Config.Width))
            throw new ArgumentException($"pooled text {text.ShapeString} must be ({b}, {Config.Width})");
        var (distinct, index) = DistinctTimes(times);
        var features = Tensor.FromArray(TimeFeaturesOf(distinct), [distinct.Length, TimeFeatures], TextTable.Backend); // (U, 256)
        var hidden = Ops.Silu(Time1.Forward(features));                                // (U, C)
        if (text is null)
        {
            var perTime = Time2.Forward(hidden);                                       // (U, 8C)
            return Ops.Reshape(Ops.Embedding(perTime, index, [b, n]), b, n, 8, Config.Width); // (B, N, 8, C)
        }
        var pairs = new Dictionary<(int Item, int Time), int>();
        var pairItem = new List<int>();
        var pairTime = new List<int>();
        var pairIndex = new int[b * n];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < n; j++)
            {
                var key = (i, index[i * n + j]);
                if (!pairs.TryGetValue(key, out int row))
                {
                    row = pairItem.Count;
                    pairs.Add(key, row);
                    pairItem.Add(i);
                    pairTime.Add(key.Item2);
                }
                pairIndex[i * n + j] = row;
            }
        int count = pairItem.Count;
        var joint = Ops.Add(Ops.Embedding(hidden, [.. pairTime], [count]), Ops.Embedding(text, [.. pairItem], [count])); // (P, C)
        var perPair = Time2.Forward(joint);                                            // (P, 8C)
        return Ops.Reshape(Ops.Embedding(perPair, pairIndex, [b, n]), b, n, 8, Config.Width); // (B, N, 8, C)
    }

    /// <summary>The distinct values of <paramref name="times"/> in order of first appearance, and each entry's index among them.</summary>
    public static (float[] Distinct, int[] Index) DistinctTimes(float[] times)
    {
        var rows = new Dictionary<int, int>();   // keyed by the bits: -0 and 0 (or two NaNs) are not merged by value rules
        var distinct = new List<float>();
        var index = new int[times.Length];
        for (int i = 0; i < times.Length; i++)
        {
            int bits = BitConverter.SingleToInt32Bits(times[i]);
            if (!rows.TryGetValue(bits, out int row))
            {
                row = distinct.Count;
                rows.Add(bits, row);
                distinct.Add(times[i]);
            }
            index[i] = row;
        }
        return (distinct.ToArray(), index);
    }

    /// <summary>Sinusoidal features of 1000 t: cosines then sines over 128 frequencies, (count, 256) row-major.</summary>
    public static float[] TimeFeaturesOf(float[] times)
    {
        const int half = TimeFeatures / 2;
        var f = new float[times.Length * TimeFeatures];
        for (int i = 0; i < times.Length; i++)
            for (int k = 0; k < half; k++)
            {
                double freq = Math.Exp(-Math.Log(10000) * k / half);
                double a = 1000.0 * times[i] * freq;
                f[i * TimeFeatures + k] = (float)Math.Cos(a);
                f[i * TimeFeatures + half + k] = (float)Math.Sin(a);
            }
        return f;
    }
}
