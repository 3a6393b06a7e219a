# The Avanti appliance image. Run from the repository root with the plugin
# in PACKER_PLUGIN_PATH (make packer-image does all of this):
#
#   PACKER_PLUGIN_PATH=bin bin/packer build -var version=1.2.3 packer/avanti.pkr.hcl
#
# Packer boots the base disk made by scripts/image/mkbase (Debian 12 from
# Debian's packages, UEFI with systemd-boot, build user "packer"), the
# avanti provisioner installs the appliance from bin/avanti and
# provisioning/ and waits for it to answer /healthz inside the VM, and
# avanti-export writes the images for each hypervisor with a SHA256SUMS.

variable "version" {
  type        = string
  default     = "dev"
  description = "Appliance version, part of the exported file names."
}

variable "base_image" {
  type        = string
  default     = "var/image/base.qcow2"
  description = "The base disk from scripts/image/mkbase."
}

variable "disk_size" {
  type        = string
  default     = "8G"
  description = "Virtual size of the appliance disk; the root partition grows into it at first boot."
}

variable "formats" {
  type        = list(string)
  default     = ["qcow2", "ova", "vhdx"]
  description = "Exported formats: qcow2 (Proxmox/KVM), ova (VMware, VirtualBox), vhdx (Hyper-V), vmdk."
}

variable "memory" {
  type        = number
  default     = 2048
  description = "MiB of memory, for the build VM and in the OVF."
}

variable "cpus" {
  type        = number
  default     = 2
  description = "Virtual CPUs, for the build VM and in the OVF."
}

variable "accelerator" {
  type        = string
  default     = "tcg"
  description = "QEMU accelerator: tcg (software, works everywhere) or kvm where a guest really runs under it."
}

variable "ssh_username" {
  type    = string
  default = "packer"
}

variable "ssh_private_key_file" {
  type    = string
  default = "var/image/build_ed25519"
}

variable "avanti_binary" {
  type    = string
  default = "bin/avanti"
}

variable "bundle" {
  type    = string
  default = "provisioning"
}

variable "output_directory" {
  type    = string
  default = "var/image/out"
}

variable "build_directory" {
  type        = string
  default     = "var/image/build"
  description = "The build VM's disk while Packer works (removed after the export); its serial console goes to BUILD_DIRECTORY-serial.log."
}

variable "health_timeout" {
  type        = string
  default     = "10m"
  description = "How long the appliance may take to answer /healthz after setup (software emulation is slow)."
}

source "qemu" "avanti" {
  iso_url      = var.base_image
  iso_checksum = "none"
  disk_image   = true
  disk_size    = var.disk_size
  format       = "qcow2"
  # Blocks the guest frees (fstrim in provisioning's finish.sh) leave the
  # disk, so the exports stay small; avanti-export does the compacting, so
  # the builder's own final qemu-img convert is skipped.
  disk_discard       = "unmap"
  disk_detect_zeroes = "unmap"
  skip_compaction    = true

  output_directory = var.build_directory
  vm_name          = "avanti"

  accelerator       = var.accelerator
  machine_type      = "q35"
  cpu_model         = "max"
  cpus              = var.cpus
  memory            = var.memory
  disk_interface    = "virtio"
  net_device        = "virtio-net"
  efi_boot          = true
  efi_firmware_code = "/usr/share/OVMF/OVMF_CODE_4M.fd"
  efi_firmware_vars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
  headless          = true
  vnc_bind_address  = "127.0.0.1"
  # The serial console (the base disk's kernel writes to ttyS0) goes to a
  # log beside the build, for when a boot under emulation goes wrong.
  qemuargs = [["-serial", "file:${var.build_directory}-serial.log"]]

  boot_wait            = "1s"
  communicator         = "ssh"
  ssh_username         = var.ssh_username
  ssh_private_key_file = var.ssh_private_key_file
  ssh_timeout          = "20m"
  shutdown_command     = "sudo -n systemctl poweroff"
  shutdown_timeout     = "5m"
}

build {
  sources = ["source.qemu.avanti"]

  provisioner "avanti" {
    binary         = var.avanti_binary
    bundle         = var.bundle
    health_url     = "https://127.0.0.1/healthz"
    health_timeout = var.health_timeout
  }

  post-processor "avanti-export" {
    output_directory = var.output_directory
    image_name       = "avanti-${var.version}"
    formats          = var.formats
    cpus             = var.cpus
    memory           = var.memory
    firmware         = "efi"
  }
}
