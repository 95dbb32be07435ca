namespace Canter.Tensors;

/// <summary>How a loss reduces over elements.</summary>
public enum Reduction { Mean, Sum, None }

public static partial class Ops
{
    /// <summary>Squared error between prediction and target (same shape).</summary>
    public static Tensor MseLoss(Tensor prediction, Tensor target, Reduction reduction = Reduction.Mean)
    {
        if (!ShapeUtil.SameShape(prediction.Shape, target.Shape))
            throw new ArgumentException($"mse: prediction {prediction.ShapeString} and target {target.ShapeString} differ");
        var squared = Square(Sub(prediction, target));
        return reduction switch
        {
            Reduction.Mean => MeanAll(squared),
            Reduction.Sum => SumAll(squared),
            _ => squared,
        };
    }

    /// <summary>Mean cross-entropy of logits (N, V) against class ids (N).</summary>
    public static Tensor CrossEntropy(Tensor logits, int[] targets)
    {
        if (logits.Rank != 2 || logits.Shape[0] != targets.Length)
            throw new ArgumentException($"cross entropy: logits {logits.ShapeString} for {targets.Length} targets");
        int n = logits.Shape[0], v = logits.Shape[1];
        var oneHot = new float[n * v];
        for (int i = 0; i < n; i++)
        {
            if ((uint)targets[i] >= (uint)v) throw new ArgumentOutOfRangeException(nameof(targets), $"class {targets[i]} outside {v} classes");
            oneHot[i * v + targets[i]] = -1f / n;
        }
        var weights = Tensor.FromArray(oneHot, [n, v], logits.Backend);
        return SumAll(Mul(LogSoftmax(logits), weights));
    }
}
