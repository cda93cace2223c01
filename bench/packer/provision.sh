# The job both tools run in the build VM, one command a line. bench/vm_build.py gives these lines
# to Kiln as an ExecuteBash step and to Packer as its shell provisioner's inline commands.
echo kiln-was-here > /etc/kiln-anchor
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends jq
