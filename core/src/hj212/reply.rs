//! The platform's replies to a data logger (HJ 212 system interaction, `ST=91`): the data
//! response 9014, the notification response 9013, the request response 9011 and the
//! execution result 9012.
//!
//! A reply echoes the frame's `QN`, `PW` and `MN`, and speaks the frame's edition: its `Flag`
//! carries the same version code with the acknowledgement and packet bits clear (HJ 212-2017:
//! `Flag=4`). HJ 212-2017 and HJ 212-2025 put the `QN` in the header (the reference sheet's
//! examples); HJ/T 212-2005 replies carry it in `CP` instead (`CP=&&QN=…;QnRtn=1&&`), as that
//! edition's examples are commonly transcribed — the 2005 placement is not confirmed by the
//! reference sheet. A frame of an unknown version is answered as HJ 212-2017.

use super::flag::{Flag, Version};
use super::frame::Frame;

/// System code of system interaction.
pub const ST_INTERACTION: &str = "91";
/// Data response (数据应答).
pub const CN_DATA_RESPONSE: &str = "9014";
/// Notification response (通知应答).
pub const CN_NOTICE_RESPONSE: &str = "9013";
/// Request response (请求应答).
pub const CN_REQUEST_RESPONSE: &str = "9011";
/// Execution result (执行结果).
pub const CN_EXECUTION_RESULT: &str = "9012";

/// `QnRtn` of a request response (reference sheet §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QnRtn {
    /// 1: ready to execute.
    Ready = 1,
    /// 2: rejected.
    Rejected = 2,
    /// 3: wrong password.
    BadPassword = 3,
    /// 4: wrong MN.
    BadMn = 4,
    /// 5: wrong ST.
    BadSt = 5,
    /// 6: wrong Flag.
    BadFlag = 6,
    /// 7: wrong QN.
    BadQn = 7,
    /// 8: wrong CN.
    BadCn = 8,
    /// 9: CRC error.
    BadCrc = 9,
    /// 100: unknown error.
    Unknown = 100,
}

/// `ExeRtn` of an execution result (reference sheet §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExeRtn {
    /// 1: success.
    Success = 1,
    /// 2: failed, unknown reason.
    Failed = 2,
    /// 3: request condition error.
    ConditionError = 3,
    /// 4: communication timeout.
    Timeout = 4,
    /// 5: system busy.
    Busy = 5,
    /// 6: system fault.
    Fault = 6,
    /// 100: no data.
    NoData = 100,
}

fn version_of(frame: &Frame) -> Version {
    frame.flag.version().unwrap_or(Version::Hj212_2017)
}

fn reply(to: &Frame, cn: &str, fields: &[(&str, String)]) -> Frame {
    let version = version_of(to);
    let mut cp: Vec<String> = Vec::new();
    let header_qn = if version == Version::Hj212_2005 {
        if let Some(qn) = &to.qn {
            cp.push(format!("QN={qn}"));
        }
        None
    } else {
        to.qn.clone()
    };
    cp.extend(fields.iter().map(|(k, v)| format!("{k}={v}")));
    Frame {
        qn: header_qn,
        st: ST_INTERACTION.to_string(),
        cn: cn.to_string(),
        pw: to.pw.clone(),
        mn: to.mn.clone(),
        flag: Flag::new(version, false, false),
        pnum: None,
        pno: None,
        cp: cp.join(";"),
    }
}

/// The data response (9014) to a data frame, or `None` when the frame does not ask for one
/// (its `Flag` has the acknowledgement bit clear). Send it only once the frame's readings are
/// stored: the logger drops a frame from its resend queue when the response arrives.
pub fn data_response(to: &Frame) -> Option<Frame> {
    to.flag
        .ack_required()
        .then(|| reply(to, CN_DATA_RESPONSE, &[]))
}

/// The notification response (9013) to a notice, or `None` when none is asked for.
pub fn notice_response(to: &Frame) -> Option<Frame> {
    to.flag
        .ack_required()
        .then(|| reply(to, CN_NOTICE_RESPONSE, &[]))
}

/// The request response (9011) to a request.
pub fn request_response(to: &Frame, rtn: QnRtn) -> Frame {
    reply(
        to,
        CN_REQUEST_RESPONSE,
        &[("QnRtn", (rtn as u16).to_string())],
    )
}

/// The execution result (9012) of a request.
pub fn execution_result(to: &Frame, rtn: ExeRtn) -> Frame {
    reply(
        to,
        CN_EXECUTION_RESULT,
        &[("ExeRtn", (rtn as u16).to_string())],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real-time data frame with the given `Flag` (5: HJ 212-2017 asking for a response;
    /// 4: the same without; 1: HJ/T 212-2005 asking; 9: HJ 212-2025 asking).
    fn frame(flag: u8) -> Frame {
        Frame {
            qn: Some("20160801085857223".into()),
            st: "21".into(),
            cn: "2011".into(),
            pw: "123456".into(),
            mn: "010000A8900016F000169DC0".into(),
            flag: Flag(flag),
            pnum: None,
            pno: None,
            cp: "DataTime=20160801085857;w21003-Rtd=0.5,w21003-Flag=N".into(),
        }
    }

    #[test]
    fn a_2017_data_response_echoes_qn_pw_and_mn_with_flag_4() {
        let reply = data_response(&frame(5)).unwrap();
        let text = reply.encode();
        let segment = "QN=20160801085857223;ST=91;CN=9014;PW=123456;MN=010000A8900016F000169DC0;Flag=4;CP=&&&&";
        let expected = format!(
            "##{:04}{segment}{:04X}\r\n",
            segment.len(),
            // The checksum itself is pinned to the standard's examples in `hj212::tests`.
            super::super::crc::crc16(segment.as_bytes())
        );
        assert_eq!(text, expected);
        // And it decodes back.
        let back = Frame::decode(text.as_bytes()).unwrap();
        assert_eq!(back.cn, "9014");
        assert!(!back.flag.ack_required());
    }

    #[test]
    fn no_response_is_sent_when_none_is_asked_for() {
        assert_eq!(data_response(&frame(4)), None);
        assert_eq!(notice_response(&frame(4)), None);
    }

    #[test]
    fn a_2005_response_carries_the_qn_in_cp() {
        let reply = request_response(&frame(1), QnRtn::Ready);
        assert_eq!(reply.qn, None);
        assert_eq!(reply.flag, Flag(0));
        assert_eq!(reply.cp, "QN=20160801085857223;QnRtn=1");
        let result = execution_result(&frame(9), ExeRtn::NoData);
        // Flag 9 = version 2 (HJ 212-2025) with A: the reply is Flag 8, QN in the header.
        assert_eq!(result.flag, Flag(8));
        assert_eq!(result.qn.as_deref(), Some("20160801085857223"));
        assert_eq!(result.cp, "ExeRtn=100");
    }
}
