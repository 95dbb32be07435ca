namespace Canter.Tensors.Backends.Cpu;

public sealed unsafe partial class CpuBackend
{
    public void RopeForward(Tensor y, Tensor x, RopeTable table, bool inverse)
    {
        int bCount = x.Shape[0], n = x.Shape[1], hCount = x.Shape[2], d = x.Shape[3], pairs = d / 2;
        int sb = x.Strides[0], sn = x.Strides[1], sh = x.Strides[2];
        float* px = Ptr(x), py = Ptr(y);
        float sign = inverse ? -1f : 1f;
        var cosTable = table.Cos;
        var sinTable = table.Sin;
        CpuParallel.For(bCount * n, (long)hCount * d * 2, (r0, r1) =>
        {
            fixed (float* pc = cosTable, ps = sinTable)
            {
                for (int r = r0; r < r1; r++)
                {
                    int b = r / n, t = r % n;
                    float* cos = pc + (long)t * pairs;
                    float* sin = ps + (long)t * pairs;
                    for (int h = 0; h < hCount; h++)
                    {
                        float* src = px + (long)b * sb + (long)t * sn + (long)h * sh;
                        float* dst = py + (((long)b * n + t) * hCount + h) * d;
                        for (int i = 0; i < pairs; i++)
                        {
                            float a = src[2 * i], c = src[2 * i + 1];
                            float co = cos[i], si = sign * sin[i];
                            dst[2 * i] = a * co - c * si;
                            dst[2 * i + 1] = a * si + c * co;
                        }
                    }
                }
            }
        });
    }
}
