//! Where a model runs: `auto | cpu | cuda | cuda:N`, as every command and nightly.toml spell it.

use tch::Device;

/// A device the user named that this machine does not have, or a name that is not one.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("--device {given}: {available} CUDA devices available (see `cbrrel info`)")]
    NoSuchCuda { given: String, available: usize },
    #[error("--device {0}: expected auto, cpu, cuda or cuda:N")]
    Unknown(String),
}

/// `auto` is CUDA device 0 when libtorch sees one, else the CPU.
pub fn parse_device(s: &str) -> Result<Device, DeviceError> {
    let cuda = |n: usize| {
        let available = tch::Cuda::device_count() as usize;
        if n >= available {
            return Err(DeviceError::NoSuchCuda {
                given: s.to_owned(),
                available,
            });
        }
        Ok(Device::Cuda(n))
    };
    match s {
        "auto" => Ok(Device::cuda_if_available()),
        "cpu" => Ok(Device::Cpu),
        "cuda" => cuda(0),
        other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(n)) => cuda(n),
            _ => Err(DeviceError::Unknown(other.to_owned())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_parse_or_say_what_is_expected() {
        assert_eq!(parse_device("cpu").unwrap(), Device::Cpu);
        assert!(matches!(parse_device("gpu"), Err(DeviceError::Unknown(_))));
        assert!(matches!(
            parse_device("cuda:x"),
            Err(DeviceError::Unknown(_))
        ));
        let n = tch::Cuda::device_count() as usize;
        assert!(matches!(
            parse_device(&format!("cuda:{n}")),
            Err(DeviceError::NoSuchCuda { available, .. }) if available == n
        ));
    }
}
