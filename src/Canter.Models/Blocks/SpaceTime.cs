using Canter.Tensors;

namespace Canter.Models.Blocks;

/// <summary>
/// Rotary layouts of Canter's shared space-time: a head's rotation pairs are split into a
/// time band (a quarter) and row and column bands (the rest, halved).
/// </summary>
public static class SpaceTime
{
    /// <summary>Pairs per axis (time, row, column) for a head of width <paramref name="headDim"/>.</summary>
    public static int[] Bands(int headDim)
    {
        int pairs = headDim / 2;
        int time = pairs / 4;
        int row = (pairs - time) / 2;
        return [time, row, pairs - time - row];
    }

    /// <summary>Tokens of a (frames, rows, cols) latent grid at <paramref name="frameRate"/> latent frames per second.</summary>
    public static RopeTable VideoGrid(int frames, int rows, int cols, int headDim, float frameRate = 1f)
    {
        var positions = new float[frames * rows * cols * 3];
        int i = 0;
        for (int f = 0; f < frames; f++)
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++)
                {
                    positions[i++] = f / frameRate;
                    positions[i++] = r;
                    positions[i++] = c;
                }
        return new RopeTable(positions, 3, Bands(headDim));
    }
}
