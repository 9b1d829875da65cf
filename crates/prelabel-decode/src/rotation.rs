//! Display rotation: how a decoded picture is turned to be shown upright.
//!
//! Phones store portrait video as landscape pictures and say in the container (the display
//! matrix of an MP4/MOV track) how to turn them. Players, browsers (so Encord's Label Editor) and
//! the `ffmpeg` command line turn them; the frames handed out here are turned the same way, so
//! the detector sees people upright and boxes are normalised to the frame a person labels.

/// A quarter-turn rotation, clockwise, from the decoded picture to the displayed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rotation {
    /// Shown as decoded.
    #[default]
    Upright,
    /// Turned 90° clockwise.
    Clockwise90,
    /// Turned 180°.
    Clockwise180,
    /// Turned 270° clockwise (90° counter-clockwise).
    Clockwise270,
}

impl Rotation {
    /// The rotation a display matrix asks for (FFmpeg's `AV_PKT_DATA_DISPLAYMATRIX`: 3×3,
    /// row-major, 16.16 fixed point), read as the `ffmpeg` command line reads it for
    /// `-autorotate`: `av_display_rotation_get`'s angle, negated and rounded to whole degrees,
    /// honoured when that is 90, 180 or 270. Other angles, a degenerate matrix and a mirroring
    /// (which a quarter-turn rotation cannot show) are shown as decoded.
    pub fn from_display_matrix(matrix: &[i32; 9]) -> Self {
        let [a, b, _, c, d, ..] = matrix.map(f64::from);
        let (column_0, column_1) = (a.hypot(c), b.hypot(d));
        if column_0 == 0.0 || column_1 == 0.0 || a * d - b * c < 0.0 {
            return Self::Upright;
        }
        // `av_display_rotation_get` is -atan2(b, a) in degrees (counter-clockwise); shown
        // clockwise, that is +atan2(b, a).
        let clockwise = (b / column_1).atan2(a / column_0).to_degrees().round().rem_euclid(360.0);
        match clockwise as u32 {
            90 => Self::Clockwise90,
            180 => Self::Clockwise180,
            270 => Self::Clockwise270,
            _ => Self::Upright,
        }
    }

    /// The clockwise angle in degrees: 0, 90, 180 or 270.
    pub fn degrees(self) -> u32 {
        match self {
            Self::Upright => 0,
            Self::Clockwise90 => 90,
            Self::Clockwise180 => 180,
            Self::Clockwise270 => 270,
        }
    }

    /// Whether width and height trade places.
    pub fn is_quarter_turn(self) -> bool {
        matches!(self, Self::Clockwise90 | Self::Clockwise270)
    }

    /// The displayed size of a `width × height` decoded picture.
    pub fn displayed_size(self, width: u32, height: u32) -> (u32, u32) {
        if self.is_quarter_turn() { (height, width) } else { (width, height) }
    }

    /// The pixel of a `width × height` decoded picture shown at `(x, y)` on row `y` of the
    /// displayed frame, for `x` from 0 across the displayed width, as (column, row).
    pub(crate) fn decoded_pixels_of_row(self, y: usize, width: usize, height: usize) -> impl Iterator<Item = (usize, usize)> {
        let displayed_width = if self.is_quarter_turn() { height } else { width };
        (0..displayed_width).map(move |x| match self {
            Self::Upright => (x, y),
            Self::Clockwise90 => (y, height - 1 - x),
            Self::Clockwise180 => (width - 1 - x, height - 1 - y),
            Self::Clockwise270 => (width - 1 - y, x),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Display matrices as libavutil 57's `av_display_rotation_set(matrix, angle)` writes them,
    /// for `angle` 90, -90 (what FFmpeg 5.1's MP4 muxer writes for a `rotate=90` tag), 180 and 30:
    /// `av_display_rotation_get` gives -90, 90, -180 and -30 for them, and `ffmpeg` turns the
    /// first three pictures 90° clockwise, 90° counter-clockwise and 180°.
    const QUARTER_CLOCKWISE: [i32; 9] = [0, 65536, 0, -65536, 0, 0, 0, 0, 1 << 30];
    const QUARTER_COUNTER_CLOCKWISE: [i32; 9] = [0, -65536, 0, 65536, 0, 0, 0, 0, 1 << 30];
    const HALF: [i32; 9] = [-65536, 0, 0, 0, -65536, 0, 0, 0, 1 << 30];
    const THIRTY: [i32; 9] = [56755, 32767, 0, -32767, 56755, 0, 0, 0, 1 << 30];

    #[test]
    fn reads_quarter_turns_as_the_ffmpeg_command_line_does() {
        assert_eq!(Rotation::from_display_matrix(&QUARTER_CLOCKWISE), Rotation::Clockwise90);
        assert_eq!(Rotation::from_display_matrix(&QUARTER_COUNTER_CLOCKWISE), Rotation::Clockwise270);
        assert_eq!(Rotation::from_display_matrix(&HALF), Rotation::Clockwise180);
        // Scaled, and a little off a quarter turn (89.65°, rounded to 90): still a quarter turn.
        assert_eq!(Rotation::from_display_matrix(&QUARTER_CLOCKWISE.map(|v| v * 2)), Rotation::Clockwise90);
        assert_eq!(Rotation::from_display_matrix(&[400, 65535, 0, -65535, 400, 0, 0, 0, 1 << 30]), Rotation::Clockwise90);
        // Not a quarter turn, no rotation, a mirroring, or no matrix at all: shown as decoded.
        assert_eq!(Rotation::from_display_matrix(&THIRTY), Rotation::Upright);
        assert_eq!(Rotation::from_display_matrix(&[-65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30]), Rotation::Upright);
        assert_eq!(Rotation::from_display_matrix(&[0, 65536, 0, 65536, 0, 0, 0, 0, 1 << 30]), Rotation::Upright);
        assert_eq!(Rotation::from_display_matrix(&[65536, 0, 0, 0, 65536, 0, 0, 0, 1 << 30]), Rotation::Upright);
        assert_eq!(Rotation::from_display_matrix(&[0; 9]), Rotation::Upright);
    }

    /// The 3 × 2 picture with pixels numbered row by row, displayed.
    fn displayed(rotation: Rotation) -> Vec<Vec<usize>> {
        let (width, height) = (3, 2);
        let rows = if rotation.is_quarter_turn() { width } else { height };
        (0..rows).map(|y| rotation.decoded_pixels_of_row(y, width, height).map(|(x, y)| y * width + x).collect()).collect()
    }

    #[test]
    fn turns_pictures_clockwise() {
        // 0 1 2
        // 3 4 5
        assert_eq!(displayed(Rotation::Upright), [[0, 1, 2], [3, 4, 5]]);
        assert_eq!(displayed(Rotation::Clockwise90), [[3, 0], [4, 1], [5, 2]]);
        assert_eq!(displayed(Rotation::Clockwise180), [[5, 4, 3], [2, 1, 0]]);
        assert_eq!(displayed(Rotation::Clockwise270), [[2, 5], [1, 4], [0, 3]]);
        assert_eq!(Rotation::Clockwise90.displayed_size(3, 2), (2, 3));
    }
}
