using System.Buffers.Binary;
using System.Text;

namespace Canter.Media;

/// <summary>WAV (RIFF) reading and writing in C#: PCM 8/16/24/32-bit and float32, any channel count (mixed to mono on read).</summary>
public static class Wav
{
    /// <summary>Writes mono 16-bit PCM (or float32 when <paramref name="asFloat"/>).</summary>
    public static void Write(string path, AudioTrack audio, bool asFloat = false)
    {
        audio.Validate();
        int bytesPerSample = asFloat ? 4 : 2;
        long dataBytes = (long)audio.Samples.Length * bytesPerSample;
        if (dataBytes > uint.MaxValue - 44) throw new ArgumentException("audio too long for a WAV file");
        var full = Path.GetFullPath(path);
        var partial = full + ".partial";
        try
        {
            using (var w = new BinaryWriter(File.Create(partial)))
            {
                w.Write(Encoding.ASCII.GetBytes("RIFF"));
                w.Write((uint)(36 + dataBytes));
                w.Write(Encoding.ASCII.GetBytes("WAVEfmt "));
                w.Write(16u);
                w.Write((ushort)(asFloat ? 3 : 1));
                w.Write((ushort)1);
                w.Write((uint)audio.SampleRate);
                w.Write((uint)(audio.SampleRate * bytesPerSample));
                w.Write((ushort)bytesPerSample);
                w.Write((ushort)(bytesPerSample * 8));
                w.Write(Encoding.ASCII.GetBytes("data"));
                w.Write((uint)dataBytes);
                foreach (var s in audio.Samples)
                {
                    float v = Math.Clamp(s, -1f, 1f);
                    if (asFloat) w.Write(v);
                    else w.Write((short)Math.Round(v * 32767f));
                }
            }
            File.Move(partial, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(partial)) File.Delete(partial);
        }
    }

    /// <summary>Reads a WAV file as mono floats; a malformed or truncated file gives a <see cref="MediaException"/>.</summary>
    public static AudioTrack Read(string path, MediaLimits? limits = null)
    {
        limits ??= MediaLimits.Default;
        if (!File.Exists(path)) throw new MediaException($"{path}: file not found");
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length > limits.MaxFileBytes) throw new MediaException($"{path}: over the size limit");
        if (bytes.Length < 12 || Encoding.ASCII.GetString(bytes, 0, 4) != "RIFF" || Encoding.ASCII.GetString(bytes, 8, 4) != "WAVE")
            throw new MediaException($"{path}: not a WAV file (no RIFF/WAVE header)");
        int format = 0, channels = 0, rate = 0, bits = 0;
        // long: a chunk size near 4 GB must end the walk, not wrap the position around to a negative index
        long next = 12;
        while (next + 8 <= bytes.Length)
        {
            int pos = (int)next;
            string id = Encoding.ASCII.GetString(bytes, pos, 4);
            uint size = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(pos + 4));
            int body = pos + 8;
            if (id == "fmt ")
            {
                if (size < 16 || body + 16 > bytes.Length) throw new MediaException($"{path}: truncated fmt chunk");
                format = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(body));
                channels = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(body + 2));
                rate = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(body + 4));
                bits = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(body + 14));
                if (format == 0xFFFE && size >= 26) format = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(body + 24)); // extensible
            }
            else if (id == "data")
            {
                if (channels == 0) throw new MediaException($"{path}: data before the fmt chunk");
                if ((long)body + size > bytes.Length) throw new MediaException($"{path}: truncated: the data chunk claims {size} bytes, {bytes.Length - body} are present");
                return Decode(path, bytes.AsSpan(body, (int)size), format, channels, rate, bits, limits);
            }
            next = body + (long)size + (size & 1);
        }
        throw new MediaException($"{path}: no data chunk");
    }

    private static AudioTrack Decode(string path, ReadOnlySpan<byte> data, int format, int channels, int rate, int bits, MediaLimits limits)
    {
        if (channels is < 1 or > 32) throw new MediaException($"{path}: {channels} channels is not supported");
        if (rate is < 8000 or > 192000) throw new MediaException($"{path}: sample rate {rate} is not supported");
        bool isFloat = format == 3 && bits == 32;
        if (!isFloat && (format != 1 || bits is not (8 or 16 or 24 or 32)))
            throw new MediaException($"{path}: WAV format {format} with {bits} bits is not supported (PCM 8/16/24/32 or float32)");
        int bytesPerSample = bits / 8, frame = bytesPerSample * channels;
        int frames = data.Length / frame;
        if ((double)frames / rate > limits.MaxSeconds) throw new MediaException($"{path}: {frames / (double)rate:0.#} s is over the limit of {limits.MaxSeconds} s");
        var samples = new float[frames];
        for (int i = 0; i < frames; i++)
        {
            float sum = 0;
            for (int c = 0; c < channels; c++)
            {
                var s = data.Slice(i * frame + c * bytesPerSample, bytesPerSample);
                sum += isFloat ? BinaryPrimitives.ReadSingleLittleEndian(s) : bits switch
                {
                    8 => (s[0] - 128) / 128f,
                    16 => BinaryPrimitives.ReadInt16LittleEndian(s) / 32768f,
                    24 => ((s[0] | (s[1] << 8) | (s[2] << 16)) << 8 >> 8) / 8388608f,
                    _ => BinaryPrimitives.ReadInt32LittleEndian(s) / 2147483648f,
                };
            }
            samples[i] = sum / channels;
        }
        return new AudioTrack(rate, samples);
    }
}
