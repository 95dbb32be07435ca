namespace Canter.Tensors.Backends.Cpu;

public sealed unsafe partial class CpuBackend
{
    public void MaxRows(Tensor values, int[] argmax, Tensor x)
    {
        int rows = x.Shape[0], c = x.Shape[1], stride = x.Strides[0];
        float* px = Ptr(x), pv = Ptr(values);
        CpuParallel.For(rows, c, (s, e) =>
        {
            for (int r = s; r < e; r++)
            {
                float* row = px + (long)r * stride;
                int best = 0;
                for (int j = 1; j < c; j++)
                    if (row[j] > row[best] || float.IsNaN(row[j]) && !float.IsNaN(row[best])) best = j;
                argmax[r] = best;
                pv[r] = row[best];
            }
        });
    }
}
