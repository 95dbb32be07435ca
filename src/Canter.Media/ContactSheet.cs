namespace Canter.Media;

/// <summary>Poster images and contact sheets (a grid of frames with the waveform under it), as PNG.</summary>
public static class ContactSheet
{
    /// <summary>The frame at <paramref name="fraction"/> of the clip (0 = first) as a PNG.</summary>
    public static void WritePoster(string path, VideoClip video, double fraction = 0)
    {
        video.Validate();
        int index = Math.Clamp((int)Math.Round(fraction * (video.Frames.Count - 1)), 0, video.Frames.Count - 1);
        Png.Write(path, new RgbImage(video.Width, video.Height, video.Frames[index]));
    }

    /// <summary>A grid of <paramref name="columns"/> x <paramref name="rows"/> evenly spaced frames, with the waveform in a strip below.</summary>
    public static RgbImage Build(VideoClip video, AudioTrack? audio, int columns = 4, int rows = 2, int waveHeight = 64)
    {
        video.Validate();
        if (columns < 1 || rows < 1) throw new ArgumentException("a contact sheet needs at least one row and one column");
        int w = video.Width, h = video.Height, gap = 2;
        int sheetW = columns * w + (columns + 1) * gap;
        int strip = audio is null ? 0 : waveHeight + gap;
        int sheetH = rows * h + (rows + 1) * gap + strip;
        var pixels = new byte[sheetW * sheetH * 3];
        Array.Fill(pixels, (byte)24);
        int cells = columns * rows;
        for (int cell = 0; cell < cells; cell++)
        {
            int index = cells == 1 ? 0 : (int)Math.Round(cell * (video.Frames.Count - 1) / (double)(cells - 1));
            int x0 = gap + cell % columns * (w + gap), y0 = gap + cell / columns * (h + gap);
            var frame = video.Frames[index];
            for (int y = 0; y < h; y++)
                Buffer.BlockCopy(frame, y * w * 3, pixels, ((y0 + y) * sheetW + x0) * 3, w * 3);
        }
        if (audio is not null && audio.Samples.Length > 0)
        {
            int top = sheetH - waveHeight - gap, mid = top + waveHeight / 2;
            for (int x = 0; x < sheetW; x++)
            {
                int s0 = (int)((long)x * audio.Samples.Length / sheetW), s1 = (int)Math.Max(s0 + 1, (long)(x + 1) * audio.Samples.Length / sheetW);
                float peak = 0;
                for (int s = s0; s < s1 && s < audio.Samples.Length; s++) peak = Math.Max(peak, Math.Abs(audio.Samples[s]));
                int half = (int)Math.Round(Math.Min(peak, 1f) * (waveHeight / 2 - 1));
                for (int y = mid - half; y <= mid + half; y++)
                {
                    int o = (y * sheetW + x) * 3;
                    pixels[o] = 90; pixels[o + 1] = 200; pixels[o + 2] = 255;
                }
            }
        }
        return new RgbImage(sheetW, sheetH, pixels);
    }
}
