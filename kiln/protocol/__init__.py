"""AWS wire protocols driven by botocore's installed service models.

rest-json (imagebuilder) lives in restjson.py; query and ec2 (iam, sts, ec2) in query.py. Both
implement kiln.protocol.base.ProtocolHandler. Validation against input shapes is shared.
"""
